// swift-tools-version:6.0
import PackageDescription

/// Where the float reference uses OpenBLAS: everywhere but Apple's platforms, which have Accelerate.
let blasPlatforms: [Platform] = [.linux, .android, .windows, .openbsd, .wasi]

let package = Package(
    name: "CapsNetEdge",
    products: [
        // Everything: the runtime and the converter, as one import.
        .library(name: "CapsNetEdge", targets: ["CapsNetEdge"]),
        // What an app that runs converted models links: the C kernels and nothing else (no HDF5,
        // OpenBLAS or zlib).
        .library(name: "CapsNetRuntime", targets: ["CapsNetRuntime"]),
        // The Keras loader, the float reference, the datasets, the quantizer and the reports.
        .library(name: "CapsNetConverter", targets: ["CapsNetConverter"]),
        .executable(name: "capsnet", targets: ["CapsNetCLI"]),
        // Runs a .capsnet model on one image, linked against the runtime alone.
        .executable(name: "capsnet-run", targets: ["CapsNetRun"]),
        // The fuzz targets of .ci/fuzz (libFuzzer with -DFUZZING), and their replay without it.
        .executable(name: "capsnet-fuzz", targets: ["CapsNetFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
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
        .target(name: "CapsNetRuntime", dependencies: ["CCapsNet"]),
        // BLAS is OpenBLAS on Linux and Accelerate on Apple platforms.
        .target(
            name: "CapsNetConverter",
            dependencies: [
                "CapsNetRuntime", .target(name: "COpenBLAS", condition: .when(platforms: blasPlatforms)), "CHDF5",
                "CZlibShim",
            ]
        ),
        .target(name: "CapsNetEdge", dependencies: ["CapsNetRuntime", "CapsNetConverter"]),
        .executableTarget(
            name: "CapsNetCLI",
            dependencies: ["CapsNetEdge", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "CapsNetRun", dependencies: ["CapsNetRuntime"]),
        .executableTarget(name: "CapsNetFuzz", dependencies: ["CapsNetConverter"]),
        .testTarget(name: "KernelTests", dependencies: ["CCapsNet", "CapsNetRuntime"]),
        .testTarget(
            name: "CapsNetEdgeTests",
            dependencies: [
                "CapsNetEdge", "CapsNetConverter", "CapsNetRuntime",
                .target(name: "COpenBLAS", condition: .when(platforms: blasPlatforms)), "CZlibShim",
            ],
            exclude: ["Fixtures"]
        ),
    ]
)
