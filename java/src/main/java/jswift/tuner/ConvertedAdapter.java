package jswift.tuner;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jswift.model.AtomicFile;
import jswift.model.CausalLM;
import jswift.model.SafetensorsDtype;
import jswift.model.SafetensorsFile;
import jswift.model.SafetensorsWriter;
import jswift.model.TensorSource;
import jswift.nn.Linear;
import jswift.nn.LoraAdapter;
import jswift.nn.Parameter;

/**
 * The two extra folders ms-swift saves for a PiSSA / OLoRA run ({@link ResidualInit}), written as PEFT 0.21 writes
 * them: {@code initial_model/} (the adapter right after initialisation, its config's init_lora_weights set to
 * true so that loading it does not decompose the base again) and, per checkpoint, {@code converted/default/}
 * (PEFT's {@code save_pretrained(path_initial_model_for_weight_conversion=initial_model)}): per module
 * lora_A = [A; A0] [2r, in] and lora_B = [B, -B0] [out, 2r], r and lora_alpha doubled (alpha x sqrt 2 with
 * rsLoRA), rank_pattern / alpha_pattern values doubled, init_lora_weights true. That adapter applied to the
 * original W gives W + s (B A - B0 A0) = W_res + s B A: the trained model. Unlike PEFT's conversion, which keeps
 * only the LoRA keys, the converted adapter also carries the modules_to_save weights, so that it serves the whole
 * trained model.
 */
public final class ConvertedAdapter {
  private ConvertedAdapter() {}

  /** Saves the freshly initialised adapter as {@code <runDir>/initial_model}. */
  public static Path saveInitial(CausalLM model, String adapterName, LoraConfig config, String base, Path runDir)
      throws IOException {
    Path dir = runDir.resolve(ResidualInit.INITIAL_MODEL);
    PeftAdapterWriter.save(model, adapterName, config.withInitLoraWeights(
        com.fasterxml.jackson.databind.node.BooleanNode.TRUE), base, dir, true);
    return dir;
  }

  /** Writes {@code <checkpointDir>/converted/default} from the adapter's current weights and the initial ones. */
  public static void saveConverted(CausalLM model, String adapterName, LoraConfig config, String base,
      Path initialModel, Path checkpointDir) throws IOException {
    Path dir = checkpointDir.resolve(ResidualInit.CONVERTED);
    Files.createDirectories(dir);
    List<TensorSource> tensors = new ArrayList<>();
    try (SafetensorsFile initial = SafetensorsFile.open(initialModel.resolve(PeftAdapterWriter.WEIGHTS))) {
      for (Map.Entry<String, Linear> e : model.linears().entrySet()) {
        LoraAdapter a = e.getValue().adapters().get(adapterName);
        if (a == null) continue;
        String prefix = "base_model.model." + e.getKey();
        int r = a.rank(), in = (int) e.getValue().inFeatures(), out = (int) e.getValue().outFeatures();
        float[] aNow = fp32(a.a()), bNow = fp32(a.b());
        float[] a0 = initial.floats(prefix + ".lora_A.weight"), b0 = initial.floats(prefix + ".lora_B.weight");
        float[] aCat = new float[2 * r * in];
        System.arraycopy(aNow, 0, aCat, 0, r * in);
        System.arraycopy(a0, 0, aCat, r * in, r * in);
        float[] bCat = new float[out * 2 * r];
        for (int i = 0; i < out; i++)
          for (int j = 0; j < r; j++) {
            bCat[i * 2 * r + j] = bNow[i * r + j];
            bCat[i * 2 * r + r + j] = -b0[i * r + j];
          }
        tensors.add(f32(prefix + ".lora_A.weight", aCat, 2L * r, in));
        tensors.add(f32(prefix + ".lora_B.weight", bCat, out, 2L * r));
      }
    }
    // modules_to_save do not depend on the residual base: carried over whole. (PEFT's conversion keeps only the
    // lora_A / lora_B keys, which would serve the original embedding / head; the trained ones are what the run made.)
    for (Parameter p : model.moduleCopies(adapterName).values()) tensors.add(f32(p.name(), fp32(p), p.value().shape()));
    SafetensorsWriter.write(dir.resolve(PeftAdapterWriter.WEIGHTS), tensors, SafetensorsWriter.PT_METADATA);
    AtomicFile.writeString(dir.resolve(LoraConfig.FILE), convertedConfig(config).withBaseModelNameOrPath(base).toJson());
  }

  /** PEFT's config edits for the converted adapter (peft_model.py, save_pretrained). */
  static LoraConfig convertedConfig(LoraConfig config) {
    if (config.useRslora() && (hasEntries(config, "rank_pattern") || hasEntries(config, "alpha_pattern")))
      throw new IllegalArgumentException("PEFT cannot convert an rsLoRA adapter with rank_pattern / alpha_pattern to a"
          + " plain LoRA (path_initial_model_for_weight_conversion refuses it), so neither does jswift");
    LoraConfig c = config.withInitLoraWeights(com.fasterxml.jackson.databind.node.BooleanNode.TRUE)
        .withR(2 * config.r())
        .withLoraAlpha(config.useRslora() ? config.loraAlpha() * Math.sqrt(2) : 2 * config.loraAlpha());
    for (String field : new String[] {"rank_pattern", "alpha_pattern"}) {
      JsonNode p = config.fields().get(field);
      if (p == null || !p.isObject() || p.isEmpty()) continue;
      ObjectNode doubled = ((ObjectNode) p).deepCopy();
      p.fields().forEachRemaining(e -> {
        JsonNode v = e.getValue();
        if (v.isIntegralNumber()) doubled.put(e.getKey(), 2 * v.asLong());
        else doubled.put(e.getKey(), 2 * v.asDouble());
      });
      c = c.with(field, doubled);
    }
    return c;
  }

  private static boolean hasEntries(LoraConfig c, String field) {
    JsonNode p = c.fields().get(field);
    return p != null && p.isObject() && !p.isEmpty();
  }

  private static float[] fp32(Parameter p) {
    return (p.master() != null ? p.master() : p.value()).toFloatArray();
  }

  private static TensorSource f32(String name, float[] v, long... shape) {
    ByteBuffer buf = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(v);
    return TensorSource.of(name, SafetensorsDtype.F32, shape, buf.array());
  }
}
