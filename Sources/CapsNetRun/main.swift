import CapsNetRuntime
import Foundation

/// `capsnet-run MODEL.capsnet IMAGE`: the class lengths of one image, computed by the int8 engine
/// of the runtime library alone. IMAGE holds the model's input as raw little-endian float32 values
/// (H×W×C, HWC), quantized here to the model's input format. It exists to show, and to test, that
/// an app needs nothing but the runtime to run a converted model.
func main() -> Int32 {
    let arguments = CommandLine.arguments.dropFirst()
    guard arguments.count == 2, let modelPath = arguments.first, let imagePath = arguments.last else {
        FileHandle.standardError.write(Data("usage: capsnet-run MODEL.capsnet IMAGE.f32\n".utf8))
        return 2
    }
    do {
        let model = try QuantizedModelFile.read(modelPath)
        let engine = try Int8Engine(model)
        guard let data = FileManager.default.contents(atPath: imagePath) else {
            throw RunError(message: "\(imagePath): no such file")
        }
        let count = model.inputShape.reduce(1, *)
        guard data.count == 4 * count else {
            throw RunError(
                message: "\(imagePath): holds \(data.count) bytes, the model takes \(count) float32 values "
                    + "(\(4 * count) bytes)")
        }
        let image = stride(from: 0, to: data.count, by: 4).map { offset in
            Float(bitPattern: data[offset..<offset + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        let lengths = try engine.run(engine.quantizeInput(image[...]))
        let format = QFormat(fractionalBits: model.outputFrac)
        print("class \(Int8Engine.predictedClass(lengths))")
        print("lengths " + lengths.map { String(format.dequantize($0)) }.joined(separator: " "))
        print("int8 " + lengths.map(String.init).joined(separator: " "))
        return 0
    } catch {
        FileHandle.standardError.write(Data("capsnet-run: \(error)\n".utf8))
        return 1
    }
}

struct RunError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

exit(main())
