"""Uses the INSTALLED lstmkit wheel as a notebook user would (Tests/Install/run.sh runs
it from outside the repository, in a fresh venv, with the Swift toolchain hidden):
segments Chinese with the bundled model, trains a tiny text classifier, runs an LSTM
forward. Exits non-zero on any failure."""

import sys
import sysconfig
from pathlib import Path

import numpy as np

import lstmkit

site = Path(sysconfig.get_paths()["purelib"]).resolve()
where = Path(lstmkit.__file__).resolve()
assert site in where.parents, f"lstmkit imported from {where}, not from the venv ({site})"
print(f"lstmkit {lstmkit.__version__} from {where.parent}")

words = lstmkit.Tokenizer.load().cut("在北京大学读书的日子里，我们每天都去图书馆。")
print("cut:", " ".join(words))
assert words == ["在", "北京大学", "读书", "的", "日子", "里", "，", "我们", "每天", "都", "去", "图书馆", "。"], words

texts = ["good film", "great acting", "fine story", "bad film", "awful acting", "poor story"] * 4
labels = ["pos", "pos", "pos", "neg", "neg", "neg"] * 4
clf = lstmkit.TextClassifier(embedding_dim=8, hidden_size=8, seed=1)
clf.fit(texts, labels, epochs=10, progress=False)
predicted = list(clf.predict(["good story", "awful film"]))
print("text classifier:", predicted)
assert set(predicted) <= {"pos", "neg"}, predicted

lstm = lstmkit.LSTM(4, 6, num_layers=2, bidirectional=True, seed=3)
y, (h_n, c_n) = lstm(np.ones((2, 5, 4), np.float32), lengths=[5, 2])
assert y.shape == (2, 5, 12) and h_n.shape == (4, 2, 6), (y.shape, h_n.shape)
assert np.all(np.isfinite(y)) and np.all(y[1, 2:] == 0)
print("lstm forward: ok")
sys.exit(0)
