package jswift.quant;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.model.Checkpoint;
import jswift.model.ModelConfig;
import jswift.nn.Attention;
import jswift.nn.DecoderLayer;
import jswift.nn.Linear;
import jswift.nn.Mlp;
import jswift.nn.Parameter;
import jswift.nn.RmsNorm;
import jswift.tensor.DType;
import jswift.tensor.Device;

/**
 * One decoder layer of a checkpoint in fp32 (on the CPU unless a device is given), loaded on its own: what a layer-by-layer quantizer holds
 * at a time (never the whole model). Its linears come in GPTQ's true-sequential order, grouped by shared input:
 * {q, k, v} after the input norm, {o}, {gate, up} after the post-attention norm, {down}.
 */
final class DenseLayer implements AutoCloseable {
  final DecoderLayer layer;
  /** Module path ("model.layers.3.self_attn.q_proj") to its Linear, in checkpoint order. */
  final Map<String, Linear> linears = new LinkedHashMap<>();
  /** The non-linear tensors (norms), by Hugging Face name. */
  final Map<String, Parameter> others = new LinkedHashMap<>();
  private final List<Parameter> owned = new ArrayList<>();

  private final Device device;

  DenseLayer(ModelConfig cfg, Checkpoint ckpt, int i) throws IOException {
    this(cfg, ckpt, i, Device.CPU);
  }

  /** As {@link #DenseLayer(ModelConfig, Checkpoint, int)}, the layer's tensors on {@code device}. */
  DenseLayer(ModelConfig cfg, Checkpoint ckpt, int i, Device device) throws IOException {
    this.device = device;
    boolean ok = false;
    try {
      int h = cfg.hiddenSize(), inter = cfg.intermediateSize(), hd = cfg.headDim();
      long qOut = (long) cfg.numAttentionHeads() * hd, kvOut = (long) cfg.numKeyValueHeads() * hd;
      String p = "model.layers." + i + ".";
      RmsNorm in = new RmsNorm(other(ckpt, p + "input_layernorm.weight", h), cfg.rmsNormEps());
      RmsNorm post = new RmsNorm(other(ckpt, p + "post_attention_layernorm.weight", h), cfg.rmsNormEps());
      Linear q = linear(ckpt, p + "self_attn.q_proj", qOut, h, cfg.qkvBias());
      Linear k = linear(ckpt, p + "self_attn.k_proj", kvOut, h, cfg.qkvBias());
      Linear v = linear(ckpt, p + "self_attn.v_proj", kvOut, h, cfg.qkvBias());
      Linear o = linear(ckpt, p + "self_attn.o_proj", h, qOut, cfg.attentionBias());
      RmsNorm qn = null, kn = null;
      if (cfg.architecture().qkNorm()) {
        qn = new RmsNorm(other(ckpt, p + "self_attn.q_norm.weight", hd), cfg.rmsNormEps());
        kn = new RmsNorm(other(ckpt, p + "self_attn.k_norm.weight", hd), cfg.rmsNormEps());
      }
      Attention attn = new Attention(q, k, v, o, qn, kn, cfg.numAttentionHeads(), cfg.numKeyValueHeads(), hd,
          cfg.slidingWindow(i));
      Mlp mlp = new Mlp(linear(ckpt, p + "mlp.gate_proj", inter, h, cfg.mlpBias()),
          linear(ckpt, p + "mlp.up_proj", inter, h, cfg.mlpBias()),
          linear(ckpt, p + "mlp.down_proj", h, inter, cfg.mlpBias()));
      layer = new DecoderLayer(i, in, attn, post, mlp);
      ok = true;
    } finally {
      if (!ok) close();
    }
  }

  /** The linears in true-sequential groups; each inner list shares one input (so one Hessian). */
  List<List<Linear>> sequentialGroups() {
    Linear[] a = layer.attention().projections(), m = layer.mlp().projections();
    return List.of(List.of(a[0], a[1], a[2]), List.of(a[3]), List.of(m[0], m[1]), List.of(m[2]));
  }

  private Parameter load(Checkpoint ckpt, String name, long... shape) throws IOException {
    Parameter p = new Parameter(name, ckpt.load(name, shape, DType.F32, device));
    owned.add(p);
    return p;
  }

  private Parameter other(Checkpoint ckpt, String name, long... shape) throws IOException {
    Parameter p = load(ckpt, name, shape);
    others.put(name, p);
    return p;
  }

  private Linear linear(Checkpoint ckpt, String module, long out, long in, boolean bias) throws IOException {
    Linear l = new Linear(module, load(ckpt, module + ".weight", out, in),
        bias ? load(ckpt, module + ".bias", out) : null);
    linears.put(module, l);
    return l;
  }

  @Override
  public void close() {
    for (Linear l : linears.values()) l.close();
    for (Parameter p : owned) p.close();
    owned.clear();
  }
}
