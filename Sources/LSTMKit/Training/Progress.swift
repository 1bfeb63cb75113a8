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
func fmt(_ x: Double) -> String { x.isFinite ? String((x * 10_000).rounded() / 10_000) : String(x) }

/// x as a whole number (seconds, items per second); NaN and infinities (a rate over a
/// zero time) as themselves.
func whole(_ x: Double) -> String { x.isFinite && abs(x) < 1e18 ? String(Int(x)) : String(x) }
