import LSTMKitLayers

// Every task model's int8 form (docs/QUANTIZATION.md): `try model.quantize()` quantizes
// its Linear, recurrent and embedding layers in place (`Module.quantizeLayers`, one
// mechanism for all); `save` then writes I8 weights with F32 scales and the metadata
// "quantization": "int8", and the model's own `load` reads such a file back in its int8
// form. Convolutions, normalisation, CRFs and n-gram tables stay float32.

extension TextClassifier: QuantizableModel {}
extension SequenceClassifier: QuantizableModel {}
extension ImageClassifier: QuantizableModel {}
extension ImageSegmenter: QuantizableModel {}
extension Forecaster: QuantizableModel {}
/// Decoding steps through the int8 layers (the fused step needs float weights: `Seq2SeqStepWeights`).
extension Seq2Seq: QuantizableModel {}

extension Tokenizer: QuantizableModel {
    public var moduleTree: Module { Self.module(networks) }
    /// Whether its networks run int8 products.
    public var isQuantized: Bool { moduleTree.isQuantized }
}
