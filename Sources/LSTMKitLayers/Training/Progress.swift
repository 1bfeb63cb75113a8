import LSTMKitCore

#if canImport(Glibc)
import Glibc
#endif

/// What every trainer shares per batch: the divergence check and the progress lines'
/// numbers. A diverged run has NaN or infinite losses, and `Int(x)` of such an x traps,
/// so no number in a progress line goes through `Int` unchecked.

/// Stops training whose loss or gradient norm is not finite (a learning rate far too
/// high): `restoreBest` puts back the best weights so far, if any, and the error says
/// where and what to do. Called after clipping and before the optimizer's step, so the
/// weights never take a non-finite update.
func stopIfDiverged(loss: Float, gradientNorm: Float, epoch: Int, batch: Int, restoreBest: () -> Void) throws {
    func text(_ x: Float) -> String { x.isNaN ? "NaN" : "\(x)" }   // not "-nan"
    let what = !loss.isFinite ? "the loss is \(text(loss))" : !gradientNorm.isFinite ? "the gradient norm is \(text(gradientNorm))" : nil
    guard let what else { return }
    restoreBest()
    throw LSTMKitError.invalidArgument("training diverged at epoch \(epoch), batch \(batch): \(what); lower the learning rate")
}

/// x rounded to 4 decimals; NaN and infinities as themselves.
package func fmt(_ x: Double) -> String { x.isFinite ? String((x * 10_000).rounded() / 10_000) : String(x) }

/// x as a whole number (seconds, items per second); NaN and infinities (a rate over a
/// zero time) as themselves.
func whole(_ x: Double) -> String { x.isFinite && abs(x) < 1e18 ? String(Int(x)) : String(x) }

/// Seconds on a monotonic clock.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One event of a training run; `line` is its progress line, the one format of every model.
public enum TrainingProgress {
    /// A line of the model's (what it trains on) or of the loop's (a time limit reached).
    case note(String)
    /// Every `logEvery` batches: the mean loss since the last such line, and the items
    /// per second since the epoch began.
    case batch(epoch: Int, batch: Int, of: Int, loss: Double, rates: [(unit: String, perSecond: Double)])
    /// An epoch trained and scored on dev (not scored: no groups, when the run keeps the
    /// last epoch).
    case epoch(EpochReport)
    /// The run is over: the epochs trained, why it stopped, each group's best dev score
    /// (named when there are several groups; none when the run kept the last epoch).
    case end(epochs: Int, stop: TrainingStop, best: [(group: String?, score: String)])

    public var line: String {
        switch self {
        case .note(let text):
            return text
        case let .batch(epoch, batch, count, loss, rates):
            return "epoch \(epoch) batch \(batch)/\(count)  loss \(fmt(loss))" + rates.map { "  \(whole($0.perSecond)) \($0.unit)/s" }.joined()
        case .epoch(let e):
            return "epoch \(e.epoch) done in \(whole(e.seconds)) s"
                + e.rates.map { " (\(whole($0.perSecond)) \($0.unit)/s)" }.joined() + "  loss \(fmt(e.loss))"
                + e.groups.map { g in
                    "  \(g.name.map { "\($0): " } ?? "")lr \(g.learningRate)  dev \(g.score)\(g.improved ? "  (best)" : "")"
                }.joined()
        case let .end(epochs, stop, best):
            return "stopped after epoch \(epochs) (\(stop.rawValue)); "
                + (best.isEmpty ? "the last epoch kept" : "best dev " + best.map { "\($0.group.map { "\($0): " } ?? "")\($0.score)" }.joined(separator: ", "))
        }
    }
}

/// An epoch's progress: its time, the items per second while training, its mean loss
/// and, per parameter group still training, its learning rate and dev score (none when
/// the run keeps the last epoch).
public struct EpochReport {
    public struct Group {
        public let name: String?
        public let learningRate: Float
        public let score: String
        public let improved: Bool
    }

    public let epoch: Int
    public let seconds: Double
    public let rates: [(unit: String, perSecond: Double)]
    public let loss: Double
    public let groups: [Group]
}
