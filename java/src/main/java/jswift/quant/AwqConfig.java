package jswift.quant;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The settings of an AWQ quantization and the {@code quantization_config} of config.json that AutoAWQ writes
 * (its {@code to_transformers_dict}) and transformers' AwqConfig reads: 4 bits, group 128, zero points, the
 * "gemm" layout. Only these are written: AutoAWQ's GEMM packer is 4-bit only, and its scale search reshapes each
 * weight into groups, so a group size of -1 is refused (AutoAWQ's quantizer fails on it too).
 */
public record AwqConfig(int bits, int groupSize) {

  public AwqConfig {
    if (bits != AwqLayout.BITS)
      throw new IllegalArgumentException("--quant_bits " + bits + " is not supported for awq: only 4 is (AutoAWQ's "
          + "GEMM layout packs 4-bit codes)");
    if (groupSize <= 0)
      throw new IllegalArgumentException("--group_size " + groupSize + " is not supported for awq: AWQ searches its "
          + "scales per group, so it needs a group size > 0 (AutoAWQ's default is 128)");
  }

  /** AutoAWQ's defaults: 4 bits, groups of 128. */
  public static AwqConfig defaults() {
    return new AwqConfig(4, 128);
  }

  public AwqConfig withGroupSize(int v) {
    return new AwqConfig(bits, v);
  }

  /** config.json's quantization_config, as AutoAWQ writes it. */
  public ObjectNode quantizationConfigJson() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("quant_method", "awq");
    n.put("zero_point", true);
    n.put("group_size", groupSize);
    n.put("bits", bits);
    n.put("version", "gemm");
    n.putNull("modules_to_not_convert");
    return n;
  }
}
