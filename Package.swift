// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "CapsNetEdge",
    products: [
        .library(name: "CapsNetEdge", targets: ["CapsNetEdge"]),
        .executable(name: "capsnet", targets: ["CapsNetCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Portable C99 int8 kernels; the same folder is copied into MCU firmware.
        .target(name: "CCapsNet", path: "CSources/CCapsNet"),
        .systemLibrary(
            name: "COpenBLAS",
            path: "CSources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CHDF5",
            path: "CSources/CHDF5",
            pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]
        ),
        .systemLibrary(
            name: "CZlibShim",
            path: "CSources/CZlibShim",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CapsNetEdge",
            dependencies: ["CCapsNet", "COpenBLAS", "CHDF5", "CZlibShim"]
        ),
        .executableTarget(
            name: "CapsNetCLI",
            dependencies: ["CapsNetEdge", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KernelTests", dependencies: ["CCapsNet", "CapsNetEdge"]),
        .testTarget(
            name: "CapsNetEdgeTests",
            dependencies: ["CapsNetEdge", "COpenBLAS", "CZlibShim"],
            exclude: ["Fixtures"]
        ),
    ]
)
