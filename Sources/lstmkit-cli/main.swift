import LSTMKit
print("lstmkit")
