import CLSTMKitHeader
import LSTMKit

// The entry points every model's handle has, one line each, grouped by function: each is
// the generic function of Handles.swift (RecurrentHandles.swift for lk_lstm / lk_gru) for
// the model's type. A C symbol needs a function of its own, so this table is what stays
// of them; what a model's handle does beyond these lives in its <Model>Handle.swift.

// lk_<model>_load
@_cdecl("lk_lstm_load") public func lk_lstm_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(LSTM.self, path, out) }
@_cdecl("lk_gru_load") public func lk_gru_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(GRU.self, path, out) }
@_cdecl("lk_tokenizer_load") public func lk_tokenizer_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(Tokenizer.self, path, out) }
@_cdecl("lk_text_classifier_load") public func lk_text_classifier_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(TextClassifier.self, path, out) }
@_cdecl("lk_image_classifier_load") public func lk_image_classifier_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(ImageClassifier.self, path, out) }
@_cdecl("lk_image_segmenter_load") public func lk_image_segmenter_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(ImageSegmenter.self, path, out) }
@_cdecl("lk_sequence_classifier_load") public func lk_sequence_classifier_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(SequenceClassifier.self, path, out) }
@_cdecl("lk_forecaster_load") public func lk_forecaster_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(Forecaster.self, path, out) }
@_cdecl("lk_seq2seq_load") public func lk_seq2seq_load(_ path: CString?, _ out: HandleOut?) -> lk_status { loadHandle(Seq2Seq.self, path, out) }

// lk_<model>_free
@_cdecl("lk_lstm_free") public func lk_lstm_free(_ p: OpaquePointer?) { freeHandle(LSTM.self, p) }
@_cdecl("lk_gru_free") public func lk_gru_free(_ p: OpaquePointer?) { freeHandle(GRU.self, p) }
@_cdecl("lk_tokenizer_free") public func lk_tokenizer_free(_ p: OpaquePointer?) { freeHandle(Tokenizer.self, p) }
@_cdecl("lk_text_classifier_free") public func lk_text_classifier_free(_ p: OpaquePointer?) { freeHandle(TextClassifier.self, p) }
@_cdecl("lk_image_classifier_free") public func lk_image_classifier_free(_ p: OpaquePointer?) { freeHandle(ImageClassifier.self, p) }
@_cdecl("lk_image_segmenter_free") public func lk_image_segmenter_free(_ p: OpaquePointer?) { freeHandle(ImageSegmenter.self, p) }
@_cdecl("lk_sequence_classifier_free") public func lk_sequence_classifier_free(_ p: OpaquePointer?) { freeHandle(SequenceClassifier.self, p) }
@_cdecl("lk_forecaster_free") public func lk_forecaster_free(_ p: OpaquePointer?) { freeHandle(Forecaster.self, p) }
@_cdecl("lk_seq2seq_free") public func lk_seq2seq_free(_ p: OpaquePointer?) { freeHandle(Seq2Seq.self, p) }

// lk_<model>_save
@_cdecl("lk_lstm_save") public func lk_lstm_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(LSTM.self, p, path) }
@_cdecl("lk_gru_save") public func lk_gru_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(GRU.self, p, path) }
@_cdecl("lk_tokenizer_save") public func lk_tokenizer_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(Tokenizer.self, p, path) }
@_cdecl("lk_text_classifier_save") public func lk_text_classifier_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(TextClassifier.self, p, path) }
@_cdecl("lk_image_classifier_save") public func lk_image_classifier_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(ImageClassifier.self, p, path) }
@_cdecl("lk_image_segmenter_save") public func lk_image_segmenter_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(ImageSegmenter.self, p, path) }
@_cdecl("lk_sequence_classifier_save") public func lk_sequence_classifier_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(SequenceClassifier.self, p, path) }
@_cdecl("lk_forecaster_save") public func lk_forecaster_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(Forecaster.self, p, path) }
@_cdecl("lk_seq2seq_save") public func lk_seq2seq_save(_ p: OpaquePointer?, _ path: CString?) -> lk_status { saveHandle(Seq2Seq.self, p, path) }

// lk_<model>_get_config
@_cdecl("lk_lstm_get_config") public func lk_lstm_get_config(_ p: OpaquePointer?, _ out: Out<lk_lstm_config>?) -> lk_status { getConfig(LSTM.self, p, out) }
@_cdecl("lk_gru_get_config") public func lk_gru_get_config(_ p: OpaquePointer?, _ out: Out<lk_gru_config>?) -> lk_status { getConfig(GRU.self, p, out) }
@_cdecl("lk_tokenizer_get_config") public func lk_tokenizer_get_config(_ p: OpaquePointer?, _ out: Out<lk_tokenizer_train_config>?) -> lk_status { getConfig(Tokenizer.self, p, out) }
@_cdecl("lk_text_classifier_get_config") public func lk_text_classifier_get_config(_ p: OpaquePointer?, _ out: Out<lk_text_classifier_train_config>?) -> lk_status { getConfig(TextClassifier.self, p, out) }
@_cdecl("lk_image_classifier_get_config") public func lk_image_classifier_get_config(_ p: OpaquePointer?, _ out: Out<lk_image_classifier_train_config>?) -> lk_status { getConfig(ImageClassifier.self, p, out) }
@_cdecl("lk_image_segmenter_get_config") public func lk_image_segmenter_get_config(_ p: OpaquePointer?, _ out: Out<lk_image_segmenter_train_config>?) -> lk_status { getConfig(ImageSegmenter.self, p, out) }
@_cdecl("lk_sequence_classifier_get_config") public func lk_sequence_classifier_get_config(_ p: OpaquePointer?, _ out: Out<lk_sequence_classifier_train_config>?) -> lk_status { getConfig(SequenceClassifier.self, p, out) }
@_cdecl("lk_forecaster_get_config") public func lk_forecaster_get_config(_ p: OpaquePointer?, _ out: Out<lk_forecaster_train_config>?) -> lk_status { getConfig(Forecaster.self, p, out) }

// lk_<model>_num_classes
@_cdecl("lk_text_classifier_num_classes") public func lk_text_classifier_num_classes(_ p: OpaquePointer?, _ n: Out<Int32>?) -> lk_status { stringCount(TextClassifier.self, p, n, "n") }
@_cdecl("lk_image_classifier_num_classes") public func lk_image_classifier_num_classes(_ p: OpaquePointer?, _ n: Out<Int32>?) -> lk_status { stringCount(ImageClassifier.self, p, n, "n") }
@_cdecl("lk_sequence_classifier_num_classes") public func lk_sequence_classifier_num_classes(_ p: OpaquePointer?, _ n: Out<Int32>?) -> lk_status { stringCount(SequenceClassifier.self, p, n, "n") }

// lk_<model>_label
@_cdecl("lk_text_classifier_label") public func lk_text_classifier_label(_ p: OpaquePointer?, _ index: Int32, _ label: Out<CString?>?) -> lk_status { lentString(TextClassifier.self, p, index, label, "label", "class") }
@_cdecl("lk_image_classifier_label") public func lk_image_classifier_label(_ p: OpaquePointer?, _ index: Int32, _ label: Out<CString?>?) -> lk_status { lentString(ImageClassifier.self, p, index, label, "label", "class") }
@_cdecl("lk_sequence_classifier_label") public func lk_sequence_classifier_label(_ p: OpaquePointer?, _ index: Int32, _ label: Out<CString?>?) -> lk_status { lentString(SequenceClassifier.self, p, index, label, "label", "class") }

// lk_<model>_config_default
@_cdecl("lk_lstm_config_default") public func lk_lstm_config_default() -> lk_lstm_config { recurrentConfigDefault }
@_cdecl("lk_gru_config_default") public func lk_gru_config_default() -> lk_gru_config { recurrentConfigDefault }

// lk_<model>_create
@_cdecl("lk_lstm_create") public func lk_lstm_create(_ config: UnsafePointer<lk_lstm_config>?, _ out: HandleOut?) -> lk_status { createRecurrent(LSTM.self, config, out) }
@_cdecl("lk_gru_create") public func lk_gru_create(_ config: UnsafePointer<lk_gru_config>?, _ out: HandleOut?) -> lk_status { createRecurrent(GRU.self, config, out) }

// lk_<model>_param_count
@_cdecl("lk_lstm_param_count") public func lk_lstm_param_count(_ p: OpaquePointer?, _ count: Out<Int32>?) -> lk_status { stringCount(LSTM.self, p, count, "count") }
@_cdecl("lk_gru_param_count") public func lk_gru_param_count(_ p: OpaquePointer?, _ count: Out<Int32>?) -> lk_status { stringCount(GRU.self, p, count, "count") }

// lk_<model>_param_name
@_cdecl("lk_lstm_param_name") public func lk_lstm_param_name(_ p: OpaquePointer?, _ index: Int32, _ name: Out<CString?>?) -> lk_status { lentString(LSTM.self, p, index, name, "name", "parameter") }
@_cdecl("lk_gru_param_name") public func lk_gru_param_name(_ p: OpaquePointer?, _ index: Int32, _ name: Out<CString?>?) -> lk_status { lentString(GRU.self, p, index, name, "name", "parameter") }

// lk_<model>_param_shape
@_cdecl("lk_lstm_param_shape") public func lk_lstm_param_shape(_ p: OpaquePointer?, _ name: CString?, _ ndim: Out<Int32>?, _ shape: Out<Int64>?) -> lk_status { parameterShape(LSTM.self, p, name, ndim, shape) }
@_cdecl("lk_gru_param_shape") public func lk_gru_param_shape(_ p: OpaquePointer?, _ name: CString?, _ ndim: Out<Int32>?, _ shape: Out<Int64>?) -> lk_status { parameterShape(GRU.self, p, name, ndim, shape) }

// lk_<model>_get_param
@_cdecl("lk_lstm_get_param") public func lk_lstm_get_param(_ p: OpaquePointer?, _ name: CString?, _ out: Out<Float>?, _ count: Int) -> lk_status { getParameter(LSTM.self, p, name, out, count) }
@_cdecl("lk_gru_get_param") public func lk_gru_get_param(_ p: OpaquePointer?, _ name: CString?, _ out: Out<Float>?, _ count: Int) -> lk_status { getParameter(GRU.self, p, name, out, count) }

// lk_<model>_set_param
@_cdecl("lk_lstm_set_param") public func lk_lstm_set_param(_ p: OpaquePointer?, _ name: CString?, _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status { setParameter(LSTM.self, p, name, values, count) }
@_cdecl("lk_gru_set_param") public func lk_gru_set_param(_ p: OpaquePointer?, _ name: CString?, _ values: UnsafePointer<Float>?, _ count: Int) -> lk_status { setParameter(GRU.self, p, name, values, count) }
