import LSTMKitLayers

/// Scores of rolling-origin forecasts against the series, averaged over every origin,
/// step and target: MASE, sMAPE, the central interval's coverage and the scaled pinball
/// loss (the dev score training minimises).
public struct ForecastScore: Equatable, Sendable, DevScore {
    /// Mean absolute error of the point forecasts over the seasonal naive's in-sample
    /// mean absolute error (per target, on the series before the first origin; 1 where
    /// that part is constant).
    public let mase: Double
    /// Symmetric MAPE in percent: 200·|y − ŷ| / (|y| + |ŷ|) (0 where both are 0).
    public let smape: Double
    /// The fraction of values inside [lowest quantile, highest quantile].
    public let coverage: Double
    /// That interval's nominal coverage (0.8 for 0.1 and 0.9).
    public let nominalCoverage: Double
    /// The mean pinball loss over the quantiles, divided by MASE's scale.
    public let scaledPinball: Double
    /// Forecast origins scored.
    public let windows: Int

    /// Lower is better for the loss; the loop keeps the highest value.
    public var value: Double { -scaledPinball }

    public var summary: String {
        func f(_ v: Double, _ digits: Int) -> String {
            var p = 1.0
            for _ in 0..<digits { p *= 10 }
            let r = (v * p).rounded() / p
            return String(r)
        }
        return "MASE \(f(mase, 3))  sMAPE \(f(smape, 2))  coverage \(f(coverage * 100, 1))% (\(f(nominalCoverage * 100, 0))%)  pinball \(f(scaledPinball, 4))"
    }

    /// `series` (T, targets) flat; `forecasts[i]` (horizon, targets, quantiles) from
    /// origin `origins[i]`.
    init(series: [Float], targets k: Int, start: Int, season m: Int, origins: [Int], horizon h: Int,
         quantiles: [Float], forecasts: [[Float]]) {
        let q = quantiles.count
        let median = quantiles.firstIndex(of: 0.5)!
        let scales: [Double] = (0..<k).map { j in
            var sum = 0.0
            for t in m..<start { sum += abs(Double(series[t * k + j]) - Double(series[(t - m) * k + j])) }
            let s = sum / Double(start - m)
            return s > 0 ? s : 1
        }
        var ase = 0.0, smape = 0.0, covered = 0.0, pinball = 0.0, n = 0.0
        for (origin, f) in zip(origins, forecasts) {
            for step in 0..<h {
                for j in 0..<k {
                    let y = Double(series[(origin + step) * k + j])
                    let row = (step * k + j) * q
                    let point = Double(f[row + median])
                    ase += abs(y - point) / scales[j]
                    let denominator = abs(y) + abs(point)
                    smape += denominator > 0 ? 200 * abs(y - point) / denominator : 0
                    if y >= Double(f[row]) && y <= Double(f[row + q - 1]) { covered += 1 }
                    var loss = 0.0
                    for (i, tau) in quantiles.enumerated() {
                        let e = y - Double(f[row + i])
                        loss += e >= 0 ? Double(tau) * e : Double(tau - 1) * e
                    }
                    pinball += loss / Double(q) / scales[j]
                    n += 1
                }
            }
        }
        n = max(n, 1)
        mase = ase / n
        self.smape = smape / n
        coverage = covered / n
        // Rounded to 6 digits: the levels are float32 (0.9 − 0.1 is 0.79999995 in float32).
        nominalCoverage = ((Double(quantiles[q - 1]) - Double(quantiles[0])) * 1e6).rounded() / 1e6
        scaledPinball = pinball / n
        windows = origins.count
    }
}
