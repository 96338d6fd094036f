import ArgumentParser

@main
struct CapsNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capsnet",
        abstract: "Capsule networks quantized to int8 for microcontrollers.",
        subcommands: [Convert.self, Export.self, Inspect.self, Eval.self, Bench.self, Count.self, Demo.self]
    )
}
