#if canImport(COpenBLAS)
import COpenBLAS
import Testing

/// The system-library target links the real OpenBLAS that the float reference will run on.
@Test("cblas_sgemm through the COpenBLAS module")
func openBLASLinks() {
    let a: [Float] = [1, 2, 3, 4]
    let b: [Float] = [5, 6, 7, 8]
    var c = [Float](repeating: 0, count: 4)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
    #expect(c == [19, 22, 43, 50])
}
#endif
