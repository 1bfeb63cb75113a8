import LSTMKitCore
import LSTMKitIO

/// Training checkpoints: the model file plus the loop's state, so an interrupted run
/// continues where it stopped. Besides the model's tensors a checkpoint holds, under
/// the parameters' model-file names, "adam.m." / "adam.v." (each optimizer's moments),
/// "best." (each group's best weights) and "average." (the moving average), and in
/// its metadata the "checkpoint_" counters, one value per parameter group where they
/// are per group (comma-separated). Tokenizer checkpoints of earlier versions (one
/// group, a seed for the generator) still resume. Writing a checkpoint draws one number
/// from the loop's generator (the seed those versions stored): the bundled tokenizer's
/// recipe, which always writes checkpoints, depends on that draw.
extension Trainer {
    /// Writes the checkpoint atomically (a crash leaves the previous one whole).
    func saveCheckpoint<T: TrainingTask>(_ task: T, to path: String, seconds: Double) throws where T.Score == Score {
        let named = task.namedState
        let name = Dictionary(named.map { (ObjectIdentifier($0.parameter), $0.name) }, uniquingKeysWith: { a, _ in a })
        func tensor(_ prefix: String, _ p: Parameter, _ values: [Float]) -> SafeTensors.Entry {
            .init(name: prefix + name[ObjectIdentifier(p)]!, shape: p.shape, values: values)
        }
        func list<V>(_ f: (GroupState) -> V) -> String { groups.map { "\(f($0))" }.joined(separator: ",") }
        let parameterGroups = task.parameterGroups
        var file = task.modelFile()
        file.metadata += [
            ("checkpoint_epoch", String(epoch)),
            ("checkpoint_best_score", list { $0.bestValue.map { String($0) } ?? "none" }),
            ("checkpoint_stale_epochs", list(\.stale)),
            ("checkpoint_learning_rate", list(\.optimizer.learningRate)),
            ("checkpoint_adam_steps", list(\.optimizer.stepCount)),
            // A draw from the generator (what earlier versions resumed from), then its state.
            ("checkpoint_rng", String(rng.next())),
            ("checkpoint_rng_state", words(rng.state)),
            ("checkpoint_model_rng_state", task.modelGenerators.map { words($0.state) }.joined(separator: ";")),
            ("checkpoint_seconds", String(seconds)),
        ]
        for (g, s) in zip(parameterGroups, groups) {
            if let best = s.bestValues {
                file.tensors += zip(g.parameters + g.kept, best).map { tensor("best.", $0, $1) }
            }
            for p in g.parameters {
                let (m, v) = s.optimizer.moments(of: p) ?? ([Float](repeating: 0, count: p.count), [Float](repeating: 0, count: p.count))
                file.tensors += [tensor("adam.m.", p, m), tensor("adam.v.", p, v)]
            }
        }
        if let averageValues {
            file.tensors += zip(parameterGroups.flatMap(\.parameters), averageValues).map { tensor("average.", $0, $1) }
        }
        try file.write(to: path)
    }

    /// Continues from a checkpoint written by `saveCheckpoint` for the same model (same
    /// configuration and data: the model metadata must match).
    func resume<T: TrainingTask>(_ task: T, from path: String) throws where T.Score == Score {
        let file = try SafeTensors.read(from: path)
        func bad(_ why: String) -> LSTMKitError { .invalidFormat("\(path): \(why)") }
        func value(_ key: String) throws -> String {
            guard let v = file.metadata(key) else { throw bad("not a checkpoint (no \(key))") }
            return v
        }
        _ = try value("checkpoint_epoch")
        let model = file.metadata.filter { !$0.0.hasPrefix("checkpoint_") }
        guard model.elementsEqual(task.modelFile().metadata, by: { $0 == $1 }) else {
            throw LSTMKitError.invalidArgument("\(path) was trained with another vocabulary or configuration")
        }
        let parameterGroups = task.parameterGroups
        let states = states(parameterGroups)
        func lists(_ key: String) throws -> [String] {
            let items = try value(key).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard items.count == states.count else { throw bad("\(key) holds \(items.count) values for \(states.count) parameter groups") }
            return items
        }
        // Read everything before changing anything, so a bad file leaves the trainer as it was.
        let epoch = Int(try value("checkpoint_epoch"))
        let bestScores = try lists(file.metadata("checkpoint_best_score") == nil ? "checkpoint_best_f1" : "checkpoint_best_score")
        let stale = try lists("checkpoint_stale_epochs").map { Int($0) }
        let rates = try lists("checkpoint_learning_rate").map { Float($0) }
        let steps = try lists("checkpoint_adam_steps").map { Int($0) }
        guard let epoch, stale.allSatisfy({ $0 != nil }), rates.allSatisfy({ $0 != nil }), steps.allSatisfy({ $0 != nil }) else {
            throw bad("a checkpoint counter is not a number")
        }
        let generator: SeededRandom
        if let state = file.metadata("checkpoint_rng_state") {
            guard let g = parseWords(state).flatMap(SeededRandom.init(state:)) else { throw bad("checkpoint_rng_state is not a generator state") }
            generator = g
        } else {
            guard let seed = UInt64(try value("checkpoint_rng")) else { throw bad("checkpoint_rng is not a number") }
            generator = SeededRandom(seed: seed)
        }
        var modelGenerators = task.modelGenerators
        if let states = file.metadata("checkpoint_model_rng_state"), !states.isEmpty {
            let parsed = states.split(separator: ";").map { parseWords(String($0)).flatMap(SeededRandom.init(state:)) }
            guard parsed.count == modelGenerators.count, parsed.allSatisfy({ $0 != nil }) else {
                throw bad("checkpoint_model_rng_state does not match the model's generators")
            }
            modelGenerators = parsed.map { $0! }
        }
        func values(_ name: String, _ p: Parameter) throws -> [Float] {
            guard let t = file.tensor(name) else { throw bad("missing tensor \"\(name)\"") }
            guard t.shape == p.shape else { throw bad("tensor \"\(name)\" has shape \(t.shape), expected \(p.shape)") }
            return t.values
        }
        func stored(_ prefix: String, _ named: [(name: String, parameter: Parameter)]) throws -> [[Float]]? {
            guard named.allSatisfy({ file.tensor(prefix + $0.name) != nil }) else { return nil }
            return try named.map { try values(prefix + $0.name, $0.parameter) }
        }
        let named = task.namedState
        let name = Dictionary(named.map { (ObjectIdentifier($0.parameter), $0.name) }, uniquingKeysWith: { a, _ in a })
        func naming(_ ps: [Parameter]) -> [(name: String, parameter: Parameter)] { ps.map { (name[ObjectIdentifier($0)]!, $0) } }
        let weights = try named.map { try values($0.name, $0.parameter) }
        if let nonFinite = zip(named, weights).first(where: { !$0.1.allSatisfy(\.isFinite) }) {
            throw bad("tensor \"\(nonFinite.0.name)\" holds a NaN or infinite value")
        }
        let moments = try parameterGroups.map { g in
            try g.parameters.map { p in
                (try values("adam.m." + name[ObjectIdentifier(p)]!, p), try values("adam.v." + name[ObjectIdentifier(p)]!, p))
            }
        }
        let best = try parameterGroups.map { try stored("best.", naming($0.parameters + $0.kept)) }
        let average = try stored("average.", naming(parameterGroups.flatMap(\.parameters)))

        for ((_, p), v) in zip(named, weights) { p.value = v }
        for (k, (g, s)) in zip(parameterGroups, states).enumerated() {
            for (p, (m, v)) in zip(g.parameters, moments[k]) { try s.optimizer.setMoments(m: m, v: v, for: p) }
            s.optimizer.learningRate = rates[k]!
            s.optimizer.stepCount = steps[k]!
            s.stale = stale[k]!
            s.bestValues = best[k]
            s.bestValue = best[k] == nil ? nil : Double(bestScores[k])
            s.best = nil
        }
        averageValues = average
        self.epoch = epoch
        rng = generator
        task.modelGenerators = modelGenerators
        secondsBefore = file.metadata("checkpoint_seconds").flatMap(Double.init) ?? 0
    }
}

/// A generator state as text: four decimal words, comma-separated.
private func words(_ state: [UInt64]) -> String { state.map(String.init).joined(separator: ",") }

private func parseWords(_ text: String) -> [UInt64]? {
    let words = text.split(separator: ",").map { UInt64($0) }
    return words.allSatisfy { $0 != nil } ? words.map { $0! } : nil
}
