package jswift.tuner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.model.SafetensorsFile;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;
import jswift.tensor.DType;
import jswift.tensor.Device;
import jswift.testing.Assert;
import jswift.testing.Fixtures;
import jswift.testing.Rand;
import jswift.testing.Torch;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PiSSA / OLoRA initialisation ({@link ResidualInit}) against PEFT 0.21 (fixtures/peft-inits, made by its
 * generate.py on the llama-gqa model: r 4, alpha 8, q_proj [64, 64], k_proj [32, 64], down_proj [64, 176]), against
 * libtorch's singular values, and against their own defining identities; and the ms-swift saving scheme (initial
 * model + converted/default) giving the trained model's outputs on the ORIGINAL base through infer and merge.
 *
 * <p>Signs: a singular pair (u_j, v_j) may come out as (-u_j, -v_j) from another LAPACK, and a QR may flip a column
 * of Q with the row of R; A's row j and B's column j flip together and B A is unchanged. The comparisons with PEFT
 * therefore flip jswift's row j of A and column j of B when row j of A points away from PEFT's (negative dot
 * product), then compare values; W_res = W - s B A does not depend on the signs and is compared as is.
 *
 * <p>Tolerances: all fp32. W_res and logits: relative norm 1e-5 (products of a few fp32 roundings of O(1)
 * values; a wrong scale or a missing component is O(1e-1) or more). Factors: relative norm 1e-4 (singular vectors
 * of fp32 SVDs of different LAPACKs agree to ~eps / gap with gaps of ~1e-2 relative here). Identities: relative
 * 1e-5.
 */
class ResidualInitTest {
  private static final List<String> TARGETS = List.of("q_proj", "k_proj", "down_proj");
  private static final Batch TOKENS = Batch.padded(new int[][] {{1, 53, 482, 280, 438, 489, 207, 17}}, null, null);
  private static final double SCALE = 8.0 / 4;

  private static Path fixture(String name) {
    return Fixtures.resource("peft-inits/" + name);
  }

  private static LoraConfig config(String init) {
    return LoraConfig.defaults().withR(4).withLoraAlpha(8).withLoraDropout(0).withTargetModules(TARGETS)
        .withInitLoraWeights(TextNode.valueOf(init));
  }

  @ParameterizedTest
  @ValueSource(strings = {"pissa", "olora"})
  void factorsAndResidualMatchPeft(String init) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        SafetensorsFile ref = SafetensorsFile.open(fixture("reference.safetensors"))) {
      LoraTuner.apply(m, "default", config(init), 42);
      int checked = 0;
      for (Map.Entry<String, Linear> e : m.linears().entrySet()) {
        LoraAdapter ad = e.getValue().adapters().get("default");
        if (ad == null) continue;
        String key = init + "." + e.getKey();
        int r = 4, in = (int) e.getValue().inFeatures(), out = (int) e.getValue().outFeatures();
        float[] a = ad.aValue().toFloatArray(), b = ad.bValue().toFloatArray();
        float[] wantA = ref.floats(key + ".lora_A"), wantB = ref.floats(key + ".lora_B");
        alignSigns(a, b, wantA, r, in, out);
        Assert.relNorm(key + " lora_A", a, wantA, 1e-4);
        Assert.relNorm(key + " lora_B", b, wantB, 1e-4);
        Assert.relNorm(key + " W_res", e.getValue().weight().value().toFloatArray(), ref.floats(key + ".weight_res"),
            1e-5);
        checked++;
      }
      assertEquals(6, checked, "3 targets in 2 layers");
    }
  }

  /** Flips row j of A and column j of B where A's row j points away from the reference's. */
  private static void alignSigns(float[] a, float[] b, float[] refA, int r, int in, int out) {
    for (int j = 0; j < r; j++) {
      double dot = 0;
      for (int c = 0; c < in; c++) dot += a[j * in + c] * refA[j * in + c];
      if (dot >= 0) continue;
      for (int c = 0; c < in; c++) a[j * in + c] = -a[j * in + c];
      for (int i = 0; i < out; i++) b[i * r + j] = -b[i * r + j];
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"pissa", "pissa_niter_4", "olora"})
  void theResidualPlusTheAdapterIsTheOriginalWeight(String init) throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        CausalLM original = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      float[] before = m.logits(TOKENS);
      LoraTuner.apply(m, "default", config(init), 42);
      for (Map.Entry<String, Linear> e : m.linears().entrySet()) {
        LoraAdapter ad = e.getValue().adapters().get("default");
        if (ad == null) continue;
        int in = (int) e.getValue().inFeatures(), out = (int) e.getValue().outFeatures();
        float[] ba = Factorizations.product(ad.bValue().toFloatArray(), out, 4, ad.aValue().toFloatArray(), in);
        float[] res = e.getValue().weight().value().toFloatArray(), sum = new float[res.length];
        for (int i = 0; i < sum.length; i++) sum[i] = (float) (res[i] + SCALE * ba[i]);
        float[] w = original.linears().get(e.getKey()).weight().value().toFloatArray();
        // One rounding of W - s B A and one of W_res + s B A: a few ulps of |W| (~0.1 here).
        Assert.relNorm(init + " " + e.getKey() + ": W_res + s B A", sum, w, 1e-6);
      }
      Assert.relNorm(init + ": the model at step 0 is the original model", m.logits(TOKENS), before, 1e-5);
    }
  }

  @Test
  void pissaFactorsAreTheScaledTopSingularVectors() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU);
        CausalLM original = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraTuner.apply(m, "default", config("pissa"), 42);
      for (Map.Entry<String, Linear> e : m.linears().entrySet()) {
        LoraAdapter ad = e.getValue().adapters().get("default");
        if (ad == null) continue;
        int in = (int) e.getValue().inFeatures(), out = (int) e.getValue().outFeatures();
        float[] w = original.linears().get(e.getKey()).weight().value().toFloatArray();
        float[] s = Torch.floats(torch.linalg_svdvals(Torch.tensor(w, out, in)));
        float[] want = new float[4];
        for (int j = 0; j < 4; j++) want[j] = (float) (s[j] / SCALE);
        // A A^T = diag(S_r / s) (rows of Vt, each scaled by sqrt(S_j / s)); B^T B likewise (columns of U).
        assertDiagonal(e.getKey() + " A A^T", gram(ad.aValue().toFloatArray(), 4, in, true), want, 1e-5);
        assertDiagonal(e.getKey() + " B^T B", gram(ad.bValue().toFloatArray(), out, 4, false), want, 1e-5);
      }
    }
  }

  @Test
  void pissaNiterIsAnApproximateSvd() {
    // A matrix with a decaying spectrum (as trained weights have): U diag(2^-j) V^T plus noise.
    int out = 48, in = 80, r = 4;
    float[] w = new float[out * in];
    float[] u = Rand.normal((long) out * 8, 1), v = Rand.normal((long) in * 8, 2), noise = Rand.normal(w.length, 3);
    for (int i = 0; i < out; i++)
      for (int c = 0; c < in; c++) {
        double acc = 1e-3 * noise[i * in + c];
        for (int j = 0; j < 8; j++) acc += Math.pow(0.5, j) * u[i * 8 + j] * v[c * 8 + j];
        w[i * in + c] = (float) acc;
      }
    float[] s = Torch.floats(torch.linalg_svdvals(Torch.tensor(w, out, in)));
    ResidualInit.Factors f = ResidualInit.compute("pissa_niter_4", w, out, in, r, SCALE, new SplittableRandom(5));
    float[] aat = gram(f.a(), r, in, true), btb = gram(f.b(), out, r, false);
    for (int j = 0; j < r; j++) {
      double approx = aat[j * r + j] * SCALE;
      // Ritz values of a projection never exceed the true singular values, and 4 power iterations on a spectrum
      // halving at each step pin the top 4 to well under 1%.
      assertTrue(approx <= s[j] * (1 + 1e-5), "approximate singular value " + j + ": " + approx + " > " + s[j]);
      assertTrue(approx >= s[j] * 0.99, "approximate singular value " + j + ": " + approx + " vs " + s[j]);
    }
    float[] diag = new float[r];
    for (int j = 0; j < r; j++) diag[j] = aat[j * r + j];
    assertDiagonal("A A^T", aat, diag, 1e-5);
    assertDiagonal("B^T B = A A^T", btb, diag, 1e-5);
  }

  @Test
  void oloraFactorsAreTheLeadingQrFactors() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      LoraTuner.apply(m, "default", config("olora"), 42);
      for (Map.Entry<String, Linear> e : m.linears().entrySet()) {
        LoraAdapter ad = e.getValue().adapters().get("default");
        if (ad == null) continue;
        int in = (int) e.getValue().inFeatures(), out = (int) e.getValue().outFeatures();
        // B = Q[:, :r]: orthonormal columns; A = R[:r]: upper triangular (zeros left of the diagonal).
        assertDiagonal(e.getKey() + " B^T B", gram(ad.bValue().toFloatArray(), out, 4, false), new float[] {1, 1, 1, 1},
            1e-5);
        float[] a = ad.aValue().toFloatArray();
        for (int j = 0; j < 4; j++) for (int c = 0; c < j; c++) assertEquals(0f, a[j * in + c], e.getKey() + " A[" + j + "," + c + "]");
      }
    }
  }

  /** x x^T of a [rows, cols] x (rowGram) or x^T x (column Gram). */
  private static float[] gram(float[] x, int rows, int cols, boolean rowGram) {
    int k = rowGram ? rows : cols;
    float[] g = new float[k * k];
    for (int i = 0; i < k; i++)
      for (int j = 0; j < k; j++) {
        double acc = 0;
        if (rowGram) for (int c = 0; c < cols; c++) acc += (double) x[i * cols + c] * x[j * cols + c];
        else for (int r = 0; r < rows; r++) acc += (double) x[r * cols + i] * x[r * cols + j];
        g[i * k + j] = (float) acc;
      }
    return g;
  }

  private static void assertDiagonal(String what, float[] g, float[] diag, double rtol) {
    int k = diag.length;
    double scale = 0;
    for (float d : diag) scale = Math.max(scale, Math.abs(d));
    for (int i = 0; i < k; i++)
      for (int j = 0; j < k; j++) {
        double want = i == j ? diag[i] : 0;
        assertTrue(Math.abs(g[i * k + j] - want) <= rtol * scale, what + "[" + i + "," + j + "] = " + g[i * k + j]
            + ", expected " + want);
      }
  }

  @Test
  void aQuantizedBaseIsRefusedWithTheWayOut() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU, DType.F32, CausalLM.Quantization.NF4)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "default", config("pissa"), 42));
      assertTrue(e.getMessage().contains("NF4-quantized") && e.getMessage().contains("QPiSSA"), e.getMessage());
    }
  }

  @Test
  void doraAndUnknownMethodsAreRefused() throws IOException {
    try (CausalLM m = CausalLM.load(Fixtures.llamaGqa(), Device.CPU)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> LoraTuner.apply(m, "default", config("olora").withDora(true), 42));
      assertTrue(e.getMessage().contains("use_dora"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> LoraTuner.apply(m, "default", config("pissa_niter_x"), 42));
      assertTrue(e.getMessage().contains("pissa_niter_x"), e.getMessage());
    }
  }

  /**
   * A PiSSA / OLoRA run "trained" to PEFT's fixture weights (the fake step of generate.py), saved as ms-swift
   * saves it, serves and merges onto the ORIGINAL base with PEFT's trained outputs; PEFT's own converted folder
   * does too, and jswift's converted config is PEFT's.
   */
  @ParameterizedTest
  @ValueSource(strings = {"pissa", "olora"})
  void savedCheckpointsGiveTheTrainedModelOnTheOriginalBase(String init, @TempDir Path tmp) throws IOException {
    Path base = Fixtures.llamaGqa();
    float[] peftLogits;
    try (SafetensorsFile ref = SafetensorsFile.open(fixture("reference.safetensors"))) {
      peftLogits = ref.floats(init + ".logits");
    }
    Path ckpt = tmp.resolve("checkpoint-1");
    try (CausalLM m = CausalLM.load(base, Device.CPU);
        SafetensorsFile trained = SafetensorsFile.open(fixture(init + "-trained/adapter_model.safetensors"))) {
      LoraConfig cfg = LoraTuner.resolveTargets(m, config(init));
      LoraTuner.apply(m, "default", cfg, 42);
      Path initial = ConvertedAdapter.saveInitial(m, "default", cfg, base.toString(), tmp);
      assertEquals(trueNode(), LoraConfig.read(initial).fields().get("init_lora_weights"));
      // W_res does not depend on the SVD / QR signs, so PEFT's trained A, B fit jswift's residual base.
      for (Map.Entry<String, Parameter> e : m.activeAdapterParameters().entrySet())
        e.getValue().value().copyFrom(trained.floats(e.getKey()));
      Assert.relNorm(init + ": the trained model (residual base)", m.logits(TOKENS), peftLogits, 1e-5);
      PeftAdapterWriter.save(m, "default", cfg, base.toString(), ckpt, true);
      ConvertedAdapter.saveConverted(m, "default", cfg, base.toString(), initial, ckpt);
    }
    // jswift's converted config is PEFT's (but for the base path and PEFT's auto_mapping / task_type bookkeeping).
    assertEquals(comparable(fixture(init + "-converted")), comparable(ckpt.resolve(ResidualInit.CONVERTED)));
    try (CausalLM original = CausalLM.load(base, Device.CPU)) {
      IOException refused = assertThrows(IOException.class, () -> original.loadAdapter("x", ckpt));
      assertTrue(refused.getMessage().contains("converted/default"), refused.getMessage());
      original.loadAdapter("ours", ResidualInit.forOriginalBase(ckpt));
      original.loadAdapter("peft", fixture(init + "-converted"));
      original.setActiveAdapter("ours");
      Assert.relNorm(init + ": jswift's checkpoint on the original base", original.logits(TOKENS), peftLogits, 1e-5);
      original.setActiveAdapter("peft");
      Assert.relNorm(init + ": PEFT's converted adapter on the original base", original.logits(TOKENS), peftLogits,
          1e-5);
    }
    Path merged = tmp.resolve("merged");
    LoraMerge.merge(base, ckpt, merged, LoraMerge.Options.on(Device.CPU));
    try (CausalLM m = CausalLM.load(merged, Device.CPU)) {
      Assert.relNorm(init + ": the merged checkpoint", m.logits(TOKENS), peftLogits, 1e-5);
    }
    IOException e = assertThrows(IOException.class, () -> ResidualInit.forOriginalBase(fixture(init + "-trained")));
    assertTrue(e.getMessage().contains("path_initial_model_for_weight_conversion"), e.getMessage());
  }

  private static JsonNode trueNode() {
    return com.fasterxml.jackson.databind.node.BooleanNode.TRUE;
  }

  private static JsonNode comparable(Path adapter) throws IOException {
    ObjectNode c = (ObjectNode) new ObjectMapper().readTree(adapter.resolve(LoraConfig.FILE).toFile());
    for (String f : new String[] {"base_model_name_or_path", "auto_mapping", "task_type"}) c.remove(f);
    return c;
  }
}
