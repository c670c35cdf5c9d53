package jswift.quant;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The settings of a GPTQ quantization and their two JSON forms: {@code quantize_config.json} (AutoGPTQ's
 * BaseQuantizeConfig, which AutoGPTQ / GPTQModel read) and the {@code quantization_config} of config.json
 * (transformers' GPTQConfig). Defaults are AutoGPTQ's: group 128, damp_percent 0.01, sym, no act-order,
 * true_sequential; the checkpoint is the "gptq" (v1) format, whose zero points are stored minus one.
 */
public record GptqConfig(int bits, int groupSize, float dampPercent, boolean descAct, boolean sym,
    boolean trueSequential) {

  public GptqConfig {
    GptqLayout.perWord(bits);  // 2, 4 or 8
    if (groupSize != -1 && groupSize <= 0)
      throw new IllegalArgumentException("group_size must be > 0 or -1 (one group per row), got " + groupSize);
    if (!(dampPercent >= 0 && dampPercent < 1))
      throw new IllegalArgumentException("damp_percent must be in [0, 1), got " + dampPercent);
  }

  /** AutoGPTQ's defaults for a bit width. */
  public static GptqConfig defaults(int bits) {
    return new GptqConfig(bits, 128, 0.01f, false, true, true);
  }

  public GptqConfig withGroupSize(int v) {
    return new GptqConfig(bits, v, dampPercent, descAct, sym, trueSequential);
  }

  public GptqConfig withDescAct(boolean v) {
    return new GptqConfig(bits, groupSize, dampPercent, v, sym, trueSequential);
  }

  public GptqConfig withSym(boolean v) {
    return new GptqConfig(bits, groupSize, dampPercent, descAct, v, trueSequential);
  }

  public GptqConfig withDampPercent(float v) {
    return new GptqConfig(bits, groupSize, v, descAct, sym, trueSequential);
  }

  public GptqConfig withTrueSequential(boolean v) {
    return new GptqConfig(bits, groupSize, dampPercent, descAct, sym, v);
  }

  /** Groups of a layer with {@code in} inputs. */
  public long groups(long in) {
    return groupSize == -1 ? 1 : (in + groupSize - 1) / groupSize;
  }

  /** quantize_config.json, as AutoGPTQ writes it. */
  public ObjectNode quantizeConfigJson() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("bits", bits);
    n.put("group_size", groupSize);
    n.put("damp_percent", (double) dampPercent);
    n.put("desc_act", descAct);
    n.put("static_groups", false);
    n.put("sym", sym);
    n.put("true_sequential", trueSequential);
    n.putNull("model_name_or_path");
    n.putNull("model_file_base_name");
    n.put("quant_method", "gptq");
    n.put("checkpoint_format", "gptq");
    return n;
  }

  /** config.json's quantization_config (transformers GPTQConfig): the same keys transformers reads back. */
  public ObjectNode quantizationConfigJson() {
    ObjectNode n = quantizeConfigJson();
    n.remove("model_name_or_path");
    n.remove("model_file_base_name");
    return n;
  }
}
