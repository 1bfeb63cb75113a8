import ArgumentParser
import Glibc
import LSTMKit

// What every train command shares: the training loop's options, help texts from the
// engine's hyper-parameter tables, the engine's checks naming this tool's options, and
// progress lines.

/// A model's training options (the loop's as `loop`: the engine's TrainerOptions), and
/// what it learns from (in help texts: "text", "images").
protocol TrainingLoopOptions: ModelTrainingOptions {
    init()
    static var trainsOn: String { get }
    /// Whether training writes a checkpoint (OUTPUT.checkpoint) without --checkpoint.
    static var checkpointsByDefault: Bool { get }
}

extension TrainingLoopOptions {
    static var checkpointsByDefault: Bool { false }
}

extension TokenizerTrainingOptions: TrainingLoopOptions {
    static let trainsOn = "segmented text"
    static let checkpointsByDefault = true
}
extension TextClassifierTrainingOptions: TrainingLoopOptions { static let trainsOn = "text" }
extension ImageClassifierTrainingOptions: TrainingLoopOptions { static let trainsOn = "images" }
extension ImageSegmenterTrainingOptions: TrainingLoopOptions { static let trainsOn = "masks" }
extension SequenceClassifierTrainingOptions: TrainingLoopOptions { static let trainsOn = "sequences" }
extension ForecasterTrainingOptions: TrainingLoopOptions { static let trainsOn = "series" }

/// The training loop's options of a command training with options struct `O`.
typealias Loop<O: TrainingLoopOptions> = LoopOptions<O, O>

/// The training loop's options, one group in every train command. An option not given
/// keeps the engine's default: `A`'s, or `B`'s where --kind trains a model of `B`.
struct LoopOptions<A: TrainingLoopOptions, B: TrainingLoopOptions>: ParsableArguments {
    @Option(help: Self.help("epochs") { $0.epochs }) var epochs: Int?
    @Option(help: Self.help("batch_size") { $0.batchSize }) var batchSize: Int?
    @Option(help: Self.help("learning_rate") { $0.learningRate }) var learningRate: Float?
    @Option(help: Self.help("clip_norm") { $0.clipNorm }) var clipNorm: Float?
    @Option(help: Self.help("patience") { $0.patience }) var patience: Int?
    @Option(help: Self.help("decay_factor") { $0.decayFactor }) var decayFactor: Float?
    @Option(help: Self.help("log_every") { $0.logEvery }) var logEvery: Int?
    @Option(help: "Random seed of the initial weights, the batches' order and dropout. (default: \(A().loop.seed))") var seed: UInt64?
    @Option(help: Self.help("threads") { $0.threads }) var threads: Int?
    @Option(help: Self.help("schedule") { $0.schedule }) var schedule: LearningRateSchedule?
    @Option(help: Self.help("average_decay") { $0.averageDecay }) var averageDecay: Float?
    @Option(help: "Minutes; training stops at the first batch end after this, then dev is scored (default: no limit).")
    var timeLimit: Minutes?
    @Option(help: ArgumentHelp("Checkpoint written after every epoch (default: "
                               + (A.checkpointsByDefault ? "OUTPUT.checkpoint)." : "none; OUTPUT.checkpoint with --resume).")))
    var checkpoint: String?
    @Flag(help: "Continue from the checkpoint (same data and options): the result equals the uninterrupted run.") var resume = false
    @Option(help: "The recurrent layer's cell (default: \(RecurrentCell.lstm)).") var cell: RecurrentCell?
    @Option(help: Self.help("weight_decay") { $0.weightDecay }) var weightDecay: Float?

    /// The engine's options struct (of either model) with the options given.
    func options<O: TrainingLoopOptions>() -> O {
        var o = O()
        set(&o.loop, [\.epochs: epochs, \.batchSize: batchSize, \.patience: patience, \.logEvery: logEvery, \.threads: threads])
        set(&o.loop, [\.learningRate: learningRate, \.clipNorm: clipNorm, \.decayFactor: decayFactor, \.averageDecay: averageDecay])
        set(&o.loop, [\.seed: seed])
        set(&o.loop, [\.schedule: schedule])
        set(&o.loop, [\.weightDecay: weightDecay])
        if let timeLimit { o.timeLimit = max(timeLimit.value * 60, 1) }
        return o
    }

    /// Before training: with --resume, continues `trainer` from the checkpoint. Returns
    /// where to write checkpoints (nil: nowhere), never one of `inputs`.
    func start<T: TrainingTask>(_ trainer: T, output: String, inputs: [String?]) throws -> String? {
        guard let path = checkpoint ?? (A.checkpointsByDefault || resume ? output + ".checkpoint" : nil) else { return nil }
        try refuseOverwritingInputs(inputs + [output], output: path, option: "--checkpoint")
        if resume {
            try trainer.resume(from: path)
            print("resumed from \(path) after epoch \(trainer.epoch)")
        }
        return path
    }

    /// The table's doc of the field `name`, and its default (of each model, when they differ).
    static func help(_ name: String, _ value: (TrainerOptions) -> Any) -> ArgumentHelp {
        let (a, b) = ("\(value(A().loop))", "\(value(B().loop))")
        let (docA, docB) = (doc(name, A.self), doc(name, B.self))
        let text = docA == docB ? docA : "\(docA.dropLast()) (\(A.trainsOn)); \(docB.prefix(1).lowercased())\(docB.dropFirst().dropLast()) (\(B.trainsOn))."
        return ArgumentHelp(text + " (default: \(a == b ? a : "\(a) for \(A.trainsOn), \(b) for \(B.trainsOn)"))")
    }
}

/// Sets each field whose option was given.
func set<Root, Value>(_ root: inout Root, _ fields: KeyValuePairs<WritableKeyPath<Root, Value>, Value?>) {
    for (field, value) in fields { if let value { root[keyPath: field] = value } }
}

/// The one-line doc of the engine's hyper-parameter `name` in `table`.
func doc<T: HyperParameterized>(_ name: String, _ table: T.Type) -> String {
    guard let entry = T.hyperParameter(name) else { fatalError("\(T.self) has no hyper-parameter \(name)") }
    return entry.doc
}

extension HyperParameterized {
    /// The help of an option setting field `name`: the table's doc, and the `default` where
    /// given (an option whose value is optional shows none of its own).
    static func help(_ name: String, default value: Any? = nil) -> ArgumentHelp {
        ArgumentHelp(doc(name, Self.self) + (value.map { " (default: \($0))" } ?? ""))
    }
}

/// Where an option's name differs from the engine field's.
private let optionNames = ["num_layers": "--layers", "embedding_dropout": "--dropout", "output_dropout": "--dropout",
                           "max_batches_per_epoch": "--max-batches"]

/// The engine's checks of a config (all, or the table's ranges alone) and an options
/// struct, the fields named as this tool's options: "--batch-size must be in [1, 65536], got 0".
func check<C: HyperParameterized, O: HyperParameterized>(_ config: C, _ options: O, rangesOnly: Bool = false) throws {
    func names<T: HyperParameterized>(_: T.Type) -> [String: String] {
        Dictionary(T.hyperParameters.map { ($0.name, optionNames[$0.name] ?? "--" + String($0.name.map { $0 == "_" ? "-" : $0 })) },
                   uniquingKeysWith: { a, _ in a })
    }
    try rangesOnly ? config.validateRanges(naming: names(C.self)) : config.validate(naming: names(C.self))
    try options.validate(naming: names(O.self))
}

/// --time-limit's value: a positive number of minutes (the engine's seconds are at least 1).
struct Minutes: ExpressibleByArgument {
    let value: Double
    init?(argument: String) {
        guard let v = Double(argument), v.isFinite, v > 0 else { return nil }
        value = v
    }
}

extension LearningRateSchedule: ExpressibleByArgument {}
extension RecurrentCell: ExpressibleByArgument {}

/// A trainer's progress line, printed at once (a pipe to `tee` shows it live).
func progress(_ line: String) {
    print(line)
    fflush(stdout)
}
