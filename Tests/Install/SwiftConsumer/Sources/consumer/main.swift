// Segments Chinese with the bundled model and runs an LSTM, through the Swift API.
// Usage: consumer TOKENIZER_MODEL. Exits non-zero if a result is not what is expected.
import LSTMKit

let arguments = CommandLine.arguments
guard arguments.count == 2 else { fatalError("usage: consumer TOKENIZER_MODEL") }
let words = try Tokenizer.load(from: arguments[1]).cut("我爱北京天安门")
print("cut:", words.joined(separator: " "))
guard words == ["我", "爱", "北京", "天安门"] else { fatalError("unexpected segmentation \(words)") }

let lstm = try LSTM(LSTMConfig(inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true))
let (y, _) = try lstm.runInference(Tensor(repeating: 0.5, shape: [2, 3, 4]), lengths: [3, 1])
guard y.shape == [2, 3, 10], y.data.allSatisfy({ $0.isFinite }) else { fatalError("unexpected LSTM output \(y.shape)") }
print("lstm forward: ok")
