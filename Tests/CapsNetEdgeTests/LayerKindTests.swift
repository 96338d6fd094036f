import CapsNetEdge
import Testing

/// The registries look a kind up by its first match, so two kinds must never claim the same tag or
/// Keras class.
@Suite("Layer kind registries")
struct LayerKindTests {
    @Test("every quantized kind has its own .capsnet tag")
    func uniqueFileTags() {
        let tags = QuantizedLayerKinds.all.map { $0.fileTag }
        #expect(Set(tags).count == tags.count, "\(tags)")
    }

    @Test("every Keras class is loaded by one kind")
    func uniqueKerasClasses() {
        let classes = LayerKinds.all.flatMap { $0.kerasClassNames }
        #expect(Set(classes).count == classes.count, "\(classes)")
    }
}
