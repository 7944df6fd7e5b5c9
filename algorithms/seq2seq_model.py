"""The networks of :mod:`algorithms.seq2seq`: encoders, decoders, attention and beam search.

Why a module of its own: the training module reads data, validates hyperparameters and runs the
checkpoint loop; this one holds only torch modules and the decoding algorithm, which the saved
model needs to translate.

* **RNN encoder** (Bahdanau et al., as Sockeye builds it): the first layer is bidirectional
  (``rnn_num_hidden / 2`` units each way), the others unidirectional with ``rnn_num_hidden``
  units; padded positions are packed away, so a sequence encodes the same in any batch.
* **CNN encoder and decoder** (Gehring et al., "Convolutional sequence to sequence learning"):
  learned positional embeddings, gated (``glu``) or plain activations, residual connections
  scaled by ``sqrt(0.5)``; the decoder's convolutions are causal and every decoder layer attends
  to the encoder (keys: its output; values: output plus embedding).
* **RNN decoder** (Luong-style input feeding): the previous attentional hidden state is fed with
  the target embedding; the attentional hidden state is ``tanh(W [h; context])``, dropped out
  by ``rnn_decoder_hidden_dropout``, then projected to the target vocabulary. With
  ``rnn_attention_in_upper_layers`` and several layers the first layer's output queries the
  attention and the context goes into every upper layer (GNMT); otherwise the top layer queries.
* **Attention**: ``dot`` (query projected when sizes differ), ``bilinear`` (Luong's general),
  ``mlp`` (Luong's concat, ``rnn_attention_num_hidden`` units) and ``fixed`` (Sockeye's: always
  the encoder's last state, whatever the query).
* **Beam search** over a batch: hypotheses end at ``</s>``; the best of the beam is the one of
  highest log-probability divided by its length (Sockeye's default length penalty, alpha 1);
  beam size 1 is greedy decoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from algorithms.torch_util import torch

nn = torch.nn
F = torch.nn.functional

#: SageMaker's reserved token ids (the vocabulary files put these four first).
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_SYMBOLS = ("<pad>", "<unk>", "<s>", "</s>")

State = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Encoded:
    """An encoded batch: attention keys and values ``[B, S, H]``, the mask ``[B, S]`` (True on
    tokens) and a summary ``[B, H]`` per sequence for the RNN decoder's initial state."""

    keys: torch.Tensor
    values: torch.Tensor
    mask: torch.Tensor
    summary: torch.Tensor

    def repeat(self, times: int) -> Encoded:
        """Each sequence ``times`` times in a row (for a beam)."""
        return Encoded(
            self.keys.repeat_interleave(times, dim=0),
            self.values.repeat_interleave(times, dim=0),
            self.mask.repeat_interleave(times, dim=0),
            self.summary.repeat_interleave(times, dim=0),
        )


def _rnn(cell_type: str, inputs: int, hidden: int, bidirectional: bool = False) -> nn.RNNBase:
    cls = nn.LSTM if cell_type == "lstm" else nn.GRU
    return cls(inputs, hidden, batch_first=True, bidirectional=bidirectional)


def _cell(cell_type: str, inputs: int, hidden: int) -> nn.RNNCellBase:
    return nn.LSTMCell(inputs, hidden) if cell_type == "lstm" else nn.GRUCell(inputs, hidden)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def _last(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sequence's output at its last token."""
    index = (mask.sum(1) - 1).clamp_min(0)
    return x[torch.arange(x.size(0), device=x.device), index]


class RNNEncoder(nn.Module):
    """A bidirectional first layer, then unidirectional layers (optionally residual)."""

    def __init__(self, cfg: dict[str, Any], embed: int) -> None:
        super().__init__()
        hidden, cell = cfg["rnn_num_hidden"], cfg["rnn_cell_type"]
        self.layers = nn.ModuleList([_rnn(cell, embed, hidden // 2, bidirectional=True)])
        self.layers.extend(
            _rnn(cell, hidden, hidden) for _ in range(cfg["num_layers_encoder"] - 1)
        )
        first = max(2, cfg["rnn_first_residual_layer"])
        self.residual = [
            bool(cfg["rnn_residual_connections"]) and number >= first
            for number in range(1, len(self.layers) + 1)
        ]
        self.output_size = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).cpu()
        total = x.size(1)
        for layer, residual in zip(self.layers, self.residual, strict=True):
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            out, _ = layer(packed)
            y, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=total)
            x = x + y if residual else y
        return x


def _activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "glu":
        return F.glu(x, dim=1)
    if name == "relu":
        return torch.relu(x)
    if name == "softrelu":
        return F.softplus(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    return torch.tanh(x)


class _ConvStack(nn.Module):
    """Gehring's convolution blocks over ``[B, C, T]``: conv, activation, scaled residual."""

    def __init__(self, cfg: dict[str, Any], layers: int, kernel: int, causal: bool) -> None:
        super().__init__()
        channels, self.activation = cfg["cnn_num_hidden"], cfg["cnn_activation_type"]
        out = 2 * channels if self.activation == "glu" else channels
        self.convs = nn.ModuleList(nn.Conv1d(channels, out, kernel) for _ in range(layers))
        self.kernel, self.causal = kernel, causal
        self.dropout = nn.Dropout(cfg["cnn_hidden_dropout"])

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        total = self.kernel - 1
        left = total if self.causal else total // 2
        return F.pad(x, (left, total - left))

    def block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return _activation(self.activation, self.convs[index](self.pad(self.dropout(x))))


class CNNEncoder(nn.Module):
    """Positional embeddings, a projection to ``cnn_num_hidden`` and the convolution blocks."""

    def __init__(self, cfg: dict[str, Any], embed: int) -> None:
        super().__init__()
        channels = cfg["cnn_num_hidden"]
        self.positions = nn.Embedding(cfg["max_seq_len_source"] + 1, embed)
        self.project_in = nn.Linear(embed, channels)
        self.stack = _ConvStack(
            cfg, cfg["num_layers_encoder"], cfg["cnn_kernel_width_encoder"], causal=False
        )
        self.output_size = channels

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(keys, values)``: the last block's output, and that plus the input embedding."""
        positions = torch.arange(x.size(1), device=x.device)
        embedded = self.project_in(x + self.positions(positions))
        keep = mask.unsqueeze(1).to(x.dtype)
        h = embedded.transpose(1, 2) * keep
        for index in range(len(self.stack.convs)):
            h = (self.stack.block(index, h) + h) * math.sqrt(0.5) * keep
        keys = h.transpose(1, 2)
        return keys, (keys + embedded) * math.sqrt(0.5)


class Attention(nn.Module):
    """Scores a query against the encoder's keys; returns the context and the weights."""

    def __init__(self, kind: str, query: int, key: int, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "dot":
            self.project = nn.Linear(query, key, bias=False) if query != key else None
        elif kind == "bilinear":
            self.project = nn.Linear(query, key, bias=False)
        elif kind == "mlp":
            self.query_layer = nn.Linear(query, hidden, bias=False)
            self.key_layer = nn.Linear(key, hidden)
            self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, query: torch.Tensor, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "fixed":
            index = (enc.mask.sum(1) - 1).clamp_min(0)
            weights = F.one_hot(index, enc.mask.size(1)).to(query.dtype)
        else:
            if self.kind == "mlp":
                hidden = torch.tanh(self.key_layer(enc.keys) + self.query_layer(query)[:, None])
                scores = self.score(hidden).squeeze(-1)
            else:
                q = query if self.project is None else self.project(query)
                scores = torch.bmm(enc.keys, q.unsqueeze(-1)).squeeze(-1)
            weights = torch.softmax(scores.masked_fill(~enc.mask, -1e9), dim=-1)
        return torch.bmm(weights.unsqueeze(1), enc.values).squeeze(1), weights


class RNNDecoder(nn.Module):
    """Stacked cells with input feeding and attention; see the module docstring."""

    def __init__(self, cfg: dict[str, Any], embed: int, memory: int, vocab: int) -> None:
        super().__init__()
        hidden, cell = cfg["rnn_num_hidden"], cfg["rnn_cell_type"]
        layers = cfg["num_layers_decoder"]
        self.lstm = cell == "lstm"
        self.upper_attention = bool(cfg["rnn_attention_in_upper_layers"]) and layers > 1
        upper_input = hidden + (memory if self.upper_attention else 0)
        self.cells = nn.ModuleList([_cell(cell, embed + hidden, hidden)])
        self.cells.extend(_cell(cell, upper_input, hidden) for _ in range(layers - 1))
        first = max(2, cfg["rnn_first_residual_layer"])
        self.residual = [
            bool(cfg["rnn_residual_connections"]) and number >= first
            for number in range(1, layers + 1)
        ]
        attention_hidden = cfg["rnn_attention_num_hidden"] or hidden
        self.attention = Attention(cfg["rnn_attention_type"], hidden, memory, attention_hidden)
        self.init_kind = cfg["rnn_decoder_state_init"]
        states = layers * (2 if self.lstm else 1)
        self.init_layer = nn.Linear(memory, states * hidden) if self.init_kind != "zero" else None
        self.combine = nn.Linear(hidden + memory, hidden)
        self.dropout = nn.Dropout(cfg["rnn_decoder_hidden_dropout"])
        self.output = nn.Linear(hidden, vocab)
        self.hidden, self.layers = hidden, layers

    def start(self, enc: Encoded) -> State:
        """Per layer ``h`` (and ``c``), then the attentional hidden state (zeros)."""
        batch = enc.keys.size(0)
        per_layer = 2 if self.lstm else 1
        if self.init_layer is None:
            zeros = enc.keys.new_zeros(batch, self.hidden)
            states = [zeros] * (self.layers * per_layer)
        else:
            summary = enc.summary if self.init_kind == "last" else _masked_mean(enc.keys, enc.mask)
            states = list(torch.tanh(self.init_layer(summary)).chunk(self.layers * per_layer, 1))
        return (*states, enc.keys.new_zeros(batch, self.hidden))

    def step(
        self, enc: Encoded, state: State, embedded: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """Logits ``[B, V]`` after one target embedding ``[B, E]``, and the next state."""
        per_layer = 2 if self.lstm else 1
        feed = state[-1]
        new_states: list[torch.Tensor] = []
        x = torch.cat([embedded, feed], dim=1)
        context: torch.Tensor | None = None
        for index, cell in enumerate(self.cells):
            if index > 0 and self.upper_attention:
                assert context is not None
                x = torch.cat([x, context], dim=1)
            previous = state[index * per_layer : (index + 1) * per_layer]
            if self.lstm:
                h, c = cell(x, (previous[0], previous[1]))
                new_states += [h, c]
            else:
                h = cell(x, previous[0])
                new_states.append(h)
            inputs = x[:, : self.hidden] if index > 0 else None
            x = h + inputs if self.residual[index] and inputs is not None else h
            if index == 0 and self.upper_attention:
                context, _ = self.attention(x, enc)
        if not self.upper_attention:
            context, _ = self.attention(x, enc)
        assert context is not None
        attentional = self.dropout(torch.tanh(self.combine(torch.cat([x, context], dim=1))))
        return self.output(attentional), (*new_states, attentional)

    def forward(self, enc: Encoded, embedded: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``[B, T, V]`` for target embeddings ``[B, T, E]``."""
        state = self.start(enc)
        outputs = []
        for t in range(embedded.size(1)):
            logits, state = self.step(enc, state, embedded[:, t])
            outputs.append(logits)
        return torch.stack(outputs, dim=1)


class CNNDecoder(nn.Module):
    """Causal convolution blocks, each attending to the encoder (Gehring et al.)."""

    def __init__(self, cfg: dict[str, Any], embed: int, memory: int, vocab: int) -> None:
        super().__init__()
        channels = cfg["cnn_num_hidden"]
        layers = cfg["num_layers_decoder"]
        self.positions = nn.Embedding(cfg["max_seq_len_target"] + 2, embed)
        self.project_in = nn.Linear(embed, channels)
        self.stack = _ConvStack(cfg, layers, cfg["cnn_kernel_width_decoder"], causal=True)
        self.queries = nn.ModuleList(nn.Linear(channels, memory) for _ in range(layers))
        self.contexts = nn.ModuleList(nn.Linear(memory, channels) for _ in range(layers))
        self.embed_to_memory = nn.Linear(embed, memory)
        self.dropout = nn.Dropout(cfg["cnn_hidden_dropout"])
        self.output = nn.Linear(channels, vocab)

    def forward(self, enc: Encoded, embedded: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(embedded.size(1), device=embedded.device)
        embedded = embedded + self.positions(positions)
        target = self.embed_to_memory(embedded)  # Gehring's g, in the keys' space
        h = self.project_in(embedded).transpose(1, 2)
        scale = math.sqrt(0.5)
        for index in range(len(self.stack.convs)):
            conv = self.stack.block(index, h).transpose(1, 2)  # [B, T, C]
            query = (self.queries[index](conv) + target) * scale
            scores = torch.bmm(query, enc.keys.transpose(1, 2))
            weights = torch.softmax(scores.masked_fill(~enc.mask[:, None], -1e9), dim=-1)
            context = self.contexts[index](torch.bmm(weights, enc.values))
            conv = (conv + context) * scale
            h = (conv.transpose(1, 2) + h) * scale
        return self.output(self.dropout(h.transpose(1, 2)))

    def start(self, enc: Encoded) -> State:
        """The state is the target prefix's embeddings so far (none yet)."""
        return (enc.keys.new_zeros(enc.keys.size(0), 0, self.positions.embedding_dim),)

    def step(
        self, enc: Encoded, state: State, embedded: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        prefix = torch.cat([state[0], embedded.unsqueeze(1)], dim=1)
        return self.forward(enc, prefix)[:, -1], (prefix,)


class Seq2SeqNetwork(nn.Module):
    """Embeddings, an encoder and a decoder as ``cfg`` (the parsed hyperparameters) says."""

    def __init__(self, cfg: dict[str, Any], source_vocab: int, target_vocab: int) -> None:
        super().__init__()
        self.source_embed = nn.Embedding(source_vocab, cfg["num_embed_source"], PAD_ID)
        self.target_embed = nn.Embedding(target_vocab, cfg["num_embed_target"], PAD_ID)
        self.source_dropout = nn.Dropout(cfg["embed_dropout_source"])
        self.target_dropout = nn.Dropout(cfg["embed_dropout_target"])
        self.encoder: RNNEncoder | CNNEncoder
        if cfg["encoder_type"] == "rnn":
            self.encoder = RNNEncoder(cfg, cfg["num_embed_source"])
        else:
            self.encoder = CNNEncoder(cfg, cfg["num_embed_source"])
        memory = self.encoder.output_size
        self.decoder: RNNDecoder | CNNDecoder
        if cfg["decoder_type"] == "rnn":
            self.decoder = RNNDecoder(cfg, cfg["num_embed_target"], memory, target_vocab)
        else:
            self.decoder = CNNDecoder(cfg, cfg["num_embed_target"], memory, target_vocab)

    def encode(self, source: torch.Tensor) -> Encoded:
        """Encode ``[B, S]`` token ids (``PAD_ID`` after each sequence's end)."""
        mask = source != PAD_ID
        x = self.source_dropout(self.source_embed(source))
        if isinstance(self.encoder, RNNEncoder):
            keys = values = self.encoder(x, mask)
        else:
            keys, values = self.encoder(x, mask)
        return Encoded(keys, values, mask, _last(keys, mask))

    def embed_target(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.target_dropout(self.target_embed(tokens))

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``[B, T, V]``; ``target_in`` starts with ``<s>``."""
        return self.decoder(self.encode(source), self.embed_target(target_in))


def initialize(network: nn.Module, kind: str, scale: float, factor_type: str) -> None:
    """MXNet's initialisers: ``xavier`` (uniform, magnitude ``scale``, fan ``factor_type``) or
    ``uniform`` on ``[-|scale|, |scale|]``, for every weight matrix; biases start at zero."""
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if parameter.dim() < 2:
                parameter.zero_()
                continue
            if kind == "uniform":
                bound = abs(scale)
            else:
                fan_out = parameter.size(0)
                fan_in = parameter[0].numel()
                fan = {"in": fan_in, "out": fan_out, "avg": (fan_in + fan_out) / 2}[factor_type]
                bound = math.sqrt(scale / fan)
            parameter.uniform_(-bound, bound)
            if name.endswith("embed.weight"):
                parameter[PAD_ID].zero_()


def _reorder(state: State, index: torch.Tensor) -> State:
    return tuple(part.index_select(0, index) for part in state)


@torch.no_grad()
def beam_search(
    network: Seq2SeqNetwork, source: torch.Tensor, beam_size: int, max_length: int
) -> list[list[int]]:
    """The best translation of each source row (ids, without ``</s>``), at most ``max_length``."""
    batch = source.size(0)
    vocab = network.target_embed.num_embeddings
    beam = max(1, min(beam_size, vocab))
    enc = network.encode(source).repeat(beam)
    decoder = network.decoder
    state = decoder.start(enc)
    device = source.device
    tokens = torch.full((batch * beam,), BOS_ID, dtype=torch.long, device=device)
    scores = torch.full((batch, beam), -math.inf, device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(batch * beam, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * beam, device=device)
    history = torch.zeros(batch * beam, 0, dtype=torch.long, device=device)
    offsets = (torch.arange(batch, device=device) * beam).unsqueeze(1)
    for t in range(max_length + 1):
        logits, state = decoder.step(enc, state, network.embed_target(tokens))
        log_p = torch.log_softmax(logits.float(), dim=-1)
        log_p[finished] = -math.inf
        log_p[finished, PAD_ID] = 0.0
        if t == max_length:  # out of room: every open hypothesis ends here
            open_rows = ~finished
            log_p[open_rows] = -math.inf
            log_p[open_rows, EOS_ID] = 0.0
        candidates = (scores.view(-1, 1) + log_p).view(batch, beam * vocab)
        scores, chosen = candidates.topk(beam, dim=1)
        rows = (offsets + torch.div(chosen, vocab, rounding_mode="floor")).view(-1)
        tokens = (chosen % vocab).view(-1)
        state = _reorder(state, rows)
        history = torch.cat([history[rows], tokens.unsqueeze(1)], dim=1)
        lengths = lengths[rows] + (~finished[rows]).float()
        finished = finished[rows] | (tokens == EOS_ID)
        if bool(finished.all()):
            break
    best = (scores.view(-1) / lengths.clamp_min(1.0)).view(batch, beam).argmax(dim=1)
    picked = history[(offsets.squeeze(1) + best)].tolist()
    return [_until_eos(row) for row in picked]


def _until_eos(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids
