import FuzzSupport
import LSTMKit

/// Any bytes as a model file: the safetensors container, then every model kind built from
/// it (metadata checked against the tensors before anything is allocated), then one small
/// prediction with whatever loaded, so weights that parse but make no sense are caught too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    expectCleanRefusal {
        let file = try SafeTensors.parse(bytes(data, size))
        expectCleanRefusal {
            let model = try LSTM(modelFile: file)
            _ = try model.runInference(Tensor(zeros: [1, 3, model.config.inputSize]))
        }
        expectCleanRefusal {
            let model = try GRU(modelFile: file)
            _ = try model.runInference(Tensor(zeros: [1, 3, model.config.inputSize]))
        }
        expectCleanRefusal {
            let model = try SequenceClassifier(modelFile: file)
            _ = try model.predictWithAttention(Sequences(sequences: [[Float](repeating: 0, count: 3 * model.channels)],
                                                         channels: model.channels))
        }
        expectCleanRefusal {
            let model = try Forecaster(modelFile: file)
            let c = model.config
            let exogenous = c.exogenous > 0 ? Tensor(zeros: [c.context + c.horizon, c.exogenous]) : nil
            _ = try model.forecast(Tensor(zeros: [c.context, c.targets]), exogenous: exogenous)
        }
        expectCleanRefusal { _ = try Tokenizer(modelFile: file).cut("我爱北京天安门。LSTM 2024") }
        expectCleanRefusal { _ = try TextClassifier(modelFile: file).predict(["a fine film", "好看"]) }
        expectCleanRefusal {
            let model = try ImageClassifier(modelFile: file)
            _ = try model.predict(Tensor(zeros: [1] + model.config.exampleShape))
        }
        expectCleanRefusal {
            let model = try Seq2Seq(modelFile: file)
            _ = try model.translate(["cab", "a"], decoding: Seq2SeqDecoding(beamSize: 2, nBest: 2))
        }
        expectCleanRefusal {
            let model = try ImageSegmenter(modelFile: file)
            let side = model.config.sizeMultiple
            _ = try model.predict(Tensor(zeros: [1, side, side, model.config.channels]))
        }
    }
    return 0
}

@_cdecl("fuzz_model_file_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    fuzzMain(argc, argv, fuzzModelFile)
}
