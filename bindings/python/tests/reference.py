"""An independent NumPy (float64) implementation of torch.nn.LSTM(batch_first=True).

Written from PyTorch's documented equations, not from LSTMKit's code:

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
    g = tanh   (W_ig x + b_ig + W_hg h + b_hg)
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)
    c' = f * c + i * g
    h' = o * tanh(c')

Gates are stacked i, f, g, o along the first axis of weight_ih / weight_hh / biases.
Layer l > 0 reads the previous layer's output (both directions concatenated, forward
first). Per-sequence lengths behave as with pack_padded_sequence: steps t >= length
leave the state alone and output 0; the reverse direction starts at length - 1 from
the initial state; h_n / c_n hold each sequence's state after its own last step.
Initial and final states are indexed layer * num_directions + direction.
"""

from __future__ import annotations

import numpy as np

GATES = 4


def param_names(num_layers: int, bidirectional: bool) -> list[str]:
    """PyTorch's nn.LSTM parameter names, in its state_dict order."""
    names = []
    for layer in range(num_layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                names.append(f"{kind}_l{layer}{suffix}")
    return names


def param_shapes(input_size: int, hidden_size: int, num_layers: int, bidirectional: bool, gates: int = GATES) -> dict:
    """name -> shape, as PyTorch's nn.LSTM has them (nn.GRU: gates=3)."""
    directions = 2 if bidirectional else 1
    shapes = {}
    for name in param_names(num_layers, bidirectional):
        layer = int(name.split("_l")[1].split("_")[0])
        layer_input = input_size if layer == 0 else directions * hidden_size
        if name.startswith("weight_ih"):
            shapes[name] = (gates * hidden_size, layer_input)
        elif name.startswith("weight_hh"):
            shapes[name] = (gates * hidden_size, hidden_size)
        else:
            shapes[name] = (gates * hidden_size,)
    return shapes


def random_params(rng, input_size, hidden_size, num_layers, bidirectional, scale=None, gates=GATES) -> dict:
    """Random float32 parameters, U(-scale, scale) (default PyTorch's 1/sqrt(H))."""
    if scale is None:
        scale = 1.0 / np.sqrt(hidden_size)
    return {
        name: rng.uniform(-scale, scale, size=shape).astype(np.float32)
        for name, shape in param_shapes(input_size, hidden_size, num_layers, bidirectional, gates).items()
    }


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_reference(params, x, lengths=None, h0=None, c0=None, *, num_layers, bidirectional):
    """Returns (y, h_n, c_n) in float64. x is (B, T, D); see the module docstring."""
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    directions = 2 if bidirectional else 1
    hidden = np.asarray(params["weight_hh_l0"]).shape[1]
    if lengths is None:
        lengths = np.full(batch, steps)
    lengths = np.asarray(lengths)
    if h0 is None:
        h0 = np.zeros((num_layers * directions, batch, hidden))
        c0 = np.zeros((num_layers * directions, batch, hidden))
    h0 = np.asarray(h0, dtype=np.float64)
    c0 = np.asarray(c0, dtype=np.float64)

    h_n = np.zeros((num_layers * directions, batch, hidden))
    c_n = np.zeros((num_layers * directions, batch, hidden))
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
            w_ih = np.asarray(params["weight_ih" + suffix], dtype=np.float64)
            w_hh = np.asarray(params["weight_hh" + suffix], dtype=np.float64)
            b_ih = np.asarray(params["bias_ih" + suffix], dtype=np.float64)
            b_hh = np.asarray(params["bias_hh" + suffix], dtype=np.float64)
            index = layer * directions + direction
            h = h0[index].copy()
            c = c0[index].copy()
            out = np.zeros((batch, steps, hidden))
            order = range(steps) if direction == 0 else range(steps - 1, -1, -1)
            for t in order:
                active = (t < lengths)[:, None]
                gates = layer_input[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
                i, f, g, o = np.split(gates, GATES, axis=1)
                i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
                c_new = f * c + i * g
                h_new = o * np.tanh(c_new)
                c = np.where(active, c_new, c)
                h = np.where(active, h_new, h)
                out[:, t] = np.where(active, h_new, 0.0)
            outputs.append(out)
            h_n[index] = h
            c_n[index] = c
        layer_input = np.concatenate(outputs, axis=2)
    return layer_input, h_n, c_n


def gru_reference(params, x, lengths=None, h0=None, *, num_layers, bidirectional):
    """torch.nn.GRU(batch_first=True) from its documented equations, in float64:

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    gates stacked r, z, n; lengths, layers and directions as lstm_reference. Returns
    (y, h_n)."""
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    directions = 2 if bidirectional else 1
    hidden = np.asarray(params["weight_hh_l0"]).shape[1]
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    h0 = np.zeros((num_layers * directions, batch, hidden)) if h0 is None else np.asarray(h0, dtype=np.float64)
    h_n = np.zeros((num_layers * directions, batch, hidden))
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
            w_ih, w_hh, b_ih, b_hh = (np.asarray(params[k + suffix], dtype=np.float64)
                                      for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            index = layer * directions + direction
            h = h0[index].copy()
            out = np.zeros((batch, steps, hidden))
            order = range(steps) if direction == 0 else range(steps - 1, -1, -1)
            for t in order:
                active = (t < lengths)[:, None]
                xr, xz, xn = np.split(layer_input[:, t] @ w_ih.T + b_ih, 3, axis=1)
                hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=1)
                r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
                n = np.tanh(xn + r * hn)
                h_new = (1 - z) * n + z * h
                h = np.where(active, h_new, h)
                out[:, t] = np.where(active, h_new, 0.0)
            outputs.append(out)
            h_n[index] = h
        layer_input = np.concatenate(outputs, axis=2)
    return layer_input, h_n
