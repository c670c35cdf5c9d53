package jswift.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jswift.tensor.Arena;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.tensor.Kernels;
import jswift.tensor.Tensor;

/**
 * A Llama decoder stack assembled by hand from the engine's ops, forward and backward, in fp32 on the CPU:
 * embedding, then per layer RMSNorm, q/k/v (dense or LoRA), RoPE, flash attention, o, residual, RMSNorm,
 * gate/up, SwiGLU, down, residual; final RMSNorm; fused LM head + cross-entropy. It exists to check that the
 * ops compose into exactly what transformers + PEFT compute (the fixture's reference outputs); the model
 * classes of jswift.nn build the same graph for real use.
 */
final class TinyLlamaFromKernels implements AutoCloseable {
  static final String[] PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

  final ModelConfig cfg;
  private final Map<String, Tensor> weights = new LinkedHashMap<>();
  /** PEFT tensor name (…lora_A.weight / …lora_B.weight) -> parameter, and its gradient. */
  final Map<String, Tensor> adapter = new LinkedHashMap<>();
  final Map<String, Tensor> adapterGrad = new LinkedHashMap<>();
  private float loraScale;
  private final Tensor invFreq;

  TinyLlamaFromKernels(Path dir) throws IOException {
    cfg = ModelConfig.load(dir);
    try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
      for (String name : f.names()) weights.put(name, f.load(name, DType.F32, Device.CPU));
    }
    invFreq = Tensor.fromFloats(Kernels.ropeInvFreq(cfg.headDim(), cfg.ropeTheta()), DType.F32, Device.CPU,
        cfg.headDim() / 2);
  }

  /** Loads a PEFT LoRA adapter (adapter_model.safetensors + its r / alpha / use_rslora). */
  void loadAdapter(Path adapterDir, int rank, float alpha, boolean rslora) throws IOException {
    loraScale = rslora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
    try (SafetensorsFile f = SafetensorsFile.open(adapterDir.resolve("adapter_model.safetensors"))) {
      for (String name : f.names()) {
        Tensor p = f.load(name, DType.F32, Device.CPU);
        adapter.put(name, p);
        adapterGrad.put(name, Tensor.zeros(DType.F32, Device.CPU, p.shape()));
      }
    }
  }

  private static String module(int layer, String proj) {
    String block = proj.endsWith("_proj") && (proj.startsWith("gate") || proj.startsWith("up") || proj.startsWith("down"))
        ? "mlp" : "self_attn";
    return "model.layers." + layer + "." + block + "." + proj;
  }

  private Tensor loraA(String module) {
    return adapter.get("base_model.model." + module + ".lora_A.weight");
  }

  private Tensor loraB(String module) {
    return adapter.get("base_model.model." + module + ".lora_B.weight");
  }

  /** What the forward keeps for the backward of one decoder layer. */
  private static final class LayerActs {
    Tensor hIn, xn, rstd1, q, k, v, attn, lse, h2, xn2, rstd2, gate, up, act;
    final Map<String, Tensor> xa = new LinkedHashMap<>();
  }

  /** Everything one forward produced (in its arena). */
  static final class Forward {
    final List<Tensor> hidden = new ArrayList<>();  // embedding output, then the residual after each layer
    Tensor finalNorm, rstdFinal, logits, lossPerToken, lseCe;
    double loss;
    int targets;
    private final List<LayerActs> layers = new ArrayList<>();
  }

  /** y = x W^T (+ LoRA): x [N, in] -> [N, out]. */
  private Tensor project(Arena a, LayerActs acts, int layer, String proj, Tensor x) {
    String m = module(layer, proj);
    Tensor w = weights.get(m + ".weight");
    Tensor y = a.allocate(DType.F32, Device.CPU, x.size(0), w.size(0));
    Tensor la = loraA(m);
    if (la == null) {
      Kernels.matmul(x, false, w, true, y, 1f, 0f);
    } else {
      Tensor xa = a.allocate(DType.F32, Device.CPU, x.size(0), la.size(0));
      Kernels.loraForward(x, w, null, la, loraB(m), loraScale, 0f, 0, y, xa);
      acts.xa.put(proj, xa);
    }
    return y;
  }

  /** dx (= or +=) for y = x W^T (+ LoRA); LoRA gradients accumulate into adapterGrad. */
  private void projectBackward(Arena a, LayerActs acts, int layer, String proj, Tensor dy, Tensor x, Tensor dx,
      boolean accumulate) {
    String m = module(layer, proj);
    Tensor w = weights.get(m + ".weight");
    Tensor target = accumulate ? a.allocate(DType.F32, Device.CPU, dx.shape()) : dx;
    Tensor la = loraA(m);
    if (la == null) {
      Kernels.matmul(dy, false, w, false, target, 1f, 0f);
    } else {
      String prefix = "base_model.model." + m;
      Kernels.loraBackward(dy, x, w, la, loraB(m), acts.xa.get(proj), loraScale, 0f, 0, target,
          adapterGrad.get(prefix + ".lora_A.weight"), adapterGrad.get(prefix + ".lora_B.weight"));
    }
    if (accumulate) Kernels.axpby(1f, target, 1f, dx);
  }

  private Tensor add(Arena a, Tensor x, Tensor y) {
    Tensor out = a.allocate(DType.F32, Device.CPU, x.shape());
    out.copyFrom(x);
    Kernels.axpby(1f, y, 1f, out);
    return out;
  }

  /**
   * Forward over a padded batch [batch, seqLen] (ids, keyMask, positions flattened row-major); targets[t] is
   * the label of row t's next token, -100 where there is none. Computes the full logits too (for comparison).
   */
  Forward forward(Arena a, int[] ids, int[] keyMask, int[] positions, int[] targets, int seqLen) {
    int n = ids.length, hdim = cfg.hiddenSize(), heads = cfg.numAttentionHeads(), kv = cfg.numKeyValueHeads();
    int hd = cfg.headDim();
    float eps = cfg.rmsNormEps();
    Tensor idsT = a.allocate(DType.I32, Device.CPU, n);
    idsT.copyFrom(ids);
    Tensor maskT = a.allocate(DType.I32, Device.CPU, n);
    maskT.copyFrom(keyMask);
    Tensor posT = a.allocate(DType.I32, Device.CPU, n);
    posT.copyFrom(positions);
    Forward f = new Forward();
    Tensor h = a.allocate(DType.F32, Device.CPU, n, hdim);
    Kernels.embeddingForward(idsT, weights.get("model.embed_tokens.weight"), h);
    f.hidden.add(h);
    for (int l = 0; l < cfg.numHiddenLayers(); l++) {
      LayerActs s = new LayerActs();
      String p = "model.layers." + l + ".";
      s.hIn = h;
      s.xn = a.allocate(DType.F32, Device.CPU, n, hdim);
      s.rstd1 = a.allocate(DType.F32, Device.CPU, n);
      Kernels.rmsNormForward(h, weights.get(p + "input_layernorm.weight"), eps, s.xn, s.rstd1);
      s.q = project(a, s, l, "q_proj", s.xn).view(n, heads, hd);
      s.k = project(a, s, l, "k_proj", s.xn).view(n, kv, hd);
      s.v = project(a, s, l, "v_proj", s.xn).view(n, kv, hd);
      Kernels.ropeForward(s.q, posT, invFreq, 1f, s.q);
      Kernels.ropeForward(s.k, posT, invFreq, 1f, s.k);
      s.attn = a.allocate(DType.F32, Device.CPU, n, heads, hd);
      s.lse = a.allocate(DType.F32, Device.CPU, n, heads);
      Kernels.attentionForward(s.q, s.k, s.v, seqLen, null, maskT.view(n / seqLen, seqLen), true, 0,
          (float) (1.0 / Math.sqrt(hd)), s.attn, s.lse);
      Tensor o = project(a, s, l, "o_proj", s.attn.view(n, heads * hd));
      s.h2 = add(a, h, o);
      s.xn2 = a.allocate(DType.F32, Device.CPU, n, hdim);
      s.rstd2 = a.allocate(DType.F32, Device.CPU, n);
      Kernels.rmsNormForward(s.h2, weights.get(p + "post_attention_layernorm.weight"), eps, s.xn2, s.rstd2);
      s.gate = project(a, s, l, "gate_proj", s.xn2);
      s.up = project(a, s, l, "up_proj", s.xn2);
      s.act = a.allocate(DType.F32, Device.CPU, s.gate.shape());
      Kernels.swigluForward(s.gate, s.up, s.act);
      Tensor d = project(a, s, l, "down_proj", s.act);
      h = add(a, s.h2, d);
      f.hidden.add(h);
      f.layers.add(s);
    }
    f.finalNorm = a.allocate(DType.F32, Device.CPU, n, hdim);
    f.rstdFinal = a.allocate(DType.F32, Device.CPU, n);
    Kernels.rmsNormForward(h, weights.get("model.norm.weight"), eps, f.finalNorm, f.rstdFinal);
    Tensor lm = weights.get("lm_head.weight");
    f.logits = a.allocate(DType.F32, Device.CPU, n, cfg.vocabSize());
    Kernels.matmul(f.finalNorm, false, lm, true, f.logits, 1f, 0f);
    Tensor labels = a.allocate(DType.I32, Device.CPU, n);
    labels.copyFrom(targets);
    f.lossPerToken = a.allocate(DType.F32, Device.CPU, n);
    f.lseCe = a.allocate(DType.F32, Device.CPU, n);
    Kernels.lmHeadCrossEntropyForward(f.finalNorm, lm, labels, -100, 0, f.lossPerToken, f.lseCe, null);
    double sum = 0;
    float[] per = f.lossPerToken.toFloatArray();
    for (int t = 0; t < n; t++) {
      if (targets[t] != -100) {
        sum += per[t];
        f.targets++;
      }
    }
    f.loss = sum / f.targets;  // transformers: mean over all targets of the batch
    return f;
  }

  /** Backward of the mean loss down to the LoRA parameters (gradients accumulate into adapterGrad). */
  void backward(Arena a, Forward f, int[] keyMask, int[] positions, int[] targets, int seqLen) {
    int n = targets.length, hdim = cfg.hiddenSize(), heads = cfg.numAttentionHeads(), hd = cfg.headDim();
    Tensor maskT = a.allocate(DType.I32, Device.CPU, n);
    maskT.copyFrom(keyMask);
    Tensor posT = a.allocate(DType.I32, Device.CPU, n);
    posT.copyFrom(positions);
    Tensor labels = a.allocate(DType.I32, Device.CPU, n);
    labels.copyFrom(targets);
    float[] dl = new float[n];
    for (int t = 0; t < n; t++) dl[t] = targets[t] == -100 ? 0f : 1f / f.targets;
    Tensor dloss = a.allocate(DType.F32, Device.CPU, n);
    dloss.copyFrom(dl);
    Tensor dfinal = a.allocate(DType.F32, Device.CPU, n, hdim);
    Kernels.lmHeadCrossEntropyBackward(f.finalNorm, weights.get("lm_head.weight"), labels, f.lseCe, dloss, -100, 0,
        dfinal, null);
    Tensor dh = a.allocate(DType.F32, Device.CPU, n, hdim);
    Kernels.rmsNormBackward(dfinal, f.hidden.get(f.hidden.size() - 1), weights.get("model.norm.weight"), f.rstdFinal,
        dh, null);
    for (int l = cfg.numHiddenLayers() - 1; l >= 0; l--) {
      LayerActs s = f.layers.get(l);
      String p = "model.layers." + l + ".";
      // h = h2 + down(swiglu(gate(xn2), up(xn2)))
      Tensor dact = a.allocate(DType.F32, Device.CPU, s.act.shape());
      projectBackward(a, s, l, "down_proj", dh, s.act, dact, false);
      Tensor dgate = a.allocate(DType.F32, Device.CPU, s.gate.shape());
      Tensor dup = a.allocate(DType.F32, Device.CPU, s.up.shape());
      Kernels.swigluBackward(dact, s.gate, s.up, dgate, dup);
      Tensor dxn2 = a.allocate(DType.F32, Device.CPU, n, hdim);
      projectBackward(a, s, l, "gate_proj", dgate, s.xn2, dxn2, false);
      projectBackward(a, s, l, "up_proj", dup, s.xn2, dxn2, true);
      Tensor dh2 = a.allocate(DType.F32, Device.CPU, n, hdim);
      Kernels.rmsNormBackward(dxn2, s.h2, weights.get(p + "post_attention_layernorm.weight"), s.rstd2, dh2, null);
      Kernels.axpby(1f, dh, 1f, dh2);
      // h2 = hIn + o(attention(rope(q(xn)), rope(k(xn)), v(xn)))
      Tensor dattn = a.allocate(DType.F32, Device.CPU, n, heads * hd);
      projectBackward(a, s, l, "o_proj", dh2, s.attn.view(n, heads * hd), dattn, false);
      Tensor dq = a.allocate(DType.F32, Device.CPU, s.q.shape());
      Tensor dk = a.allocate(DType.F32, Device.CPU, s.k.shape());
      Tensor dv = a.allocate(DType.F32, Device.CPU, s.v.shape());
      Kernels.attentionBackward(s.q, s.k, s.v, s.attn, dattn.view(n, heads, hd), s.lse, seqLen, null,
          maskT.view(n / seqLen, seqLen), true, 0, (float) (1.0 / Math.sqrt(hd)), dq, dk, dv);
      Kernels.ropeBackward(dq, posT, invFreq, 1f, dq);
      Kernels.ropeBackward(dk, posT, invFreq, 1f, dk);
      Tensor dxn = a.allocate(DType.F32, Device.CPU, n, hdim);
      projectBackward(a, s, l, "q_proj", dq.view(n, -1), s.xn, dxn, false);
      projectBackward(a, s, l, "k_proj", dk.view(n, -1), s.xn, dxn, true);
      projectBackward(a, s, l, "v_proj", dv.view(n, -1), s.xn, dxn, true);
      Tensor dhIn = a.allocate(DType.F32, Device.CPU, n, hdim);
      Kernels.rmsNormBackward(dxn, s.hIn, weights.get(p + "input_layernorm.weight"), s.rstd1, dhIn, null);
      Kernels.axpby(1f, dh2, 1f, dhIn);
      dh = dhIn;
    }
  }

  /** One torch.optim.AdamW step (step 1, fresh moments) on every adapter tensor. */
  void adamwStep(float lr, float beta1, float beta2, float eps, float weightDecay) {
    for (Map.Entry<String, Tensor> e : adapter.entrySet()) {
      Tensor p = e.getValue();
      try (Tensor m = Tensor.zeros(DType.F32, Device.CPU, p.shape());
          Tensor v = Tensor.zeros(DType.F32, Device.CPU, p.shape())) {
        Kernels.adamwStep(p, adapterGrad.get(e.getKey()), m, v, lr, beta1, beta2, eps, weightDecay, 1, null, null);
      }
    }
  }

  @Override
  public void close() {
    weights.values().forEach(Tensor::close);
    adapter.values().forEach(Tensor::close);
    adapterGrad.values().forEach(Tensor::close);
    invFreq.close();
  }
}
