import LSTMKitCore

/// How a trainer changes the learning rate. (`_cos` is Random.swift's libm cosine.)
public enum LearningRateSchedule: String, Sendable, CaseIterable {
    /// Multiply it by the decay factor after each epoch without a better dev score;
    /// stop after `patience` such epochs.
    case plateau
    /// Follow half a cosine from the initial rate down to 0 over the training budget (the
    /// time limit, else the epochs), batch by batch; no early stop. With a time budget
    /// this ends training at a low rate, which a plateau rule reaches only by luck.
    case cosine

    /// The cosine rate at `progress` (0 at the start, 1 at the end of the budget).
    public static func cosineRate(_ initial: Float, progress: Double) -> Float {
        let p = min(max(progress, 0), 1)
        return initial * Float(0.5 * (1 + _cos(Double.pi * p)))
    }
}
