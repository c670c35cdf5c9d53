package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import jswift.train.GaLoreConfig;
import jswift.train.TrainArguments;
import org.junit.jupiter.api.Test;

/** {@code jswift sft --use_galore ...}: ms-swift's GaLore flag names and defaults reach {@link TrainArguments}. */
class GaLoreFlagsTest {
  private static TrainArguments parse(String... args) {
    var sub = Main.commandLine().parseArgs(args).subcommand();
    return ((SftCommand) sub.commandSpec().userObject()).options.arguments();
  }

  @Test
  void defaultsAreMsSwifts() {
    TrainArguments a = parse("sft", "--train_type", "full", "--use_galore", "true");
    assertTrue(a.useGalore);
    assertNull(a.galoreTargetModules, "default: the decoder's linear layers");
    GaLoreConfig c = a.galoreConfig();
    assertEquals(128, c.rank());
    assertEquals(50, c.updateProjGap());
    assertEquals(1.0f, c.scale(), "ms-swift's galore_scale default (the GaLore paper's recipes use 0.25)");
    assertEquals("std", a.galoreProjType);
    assertFalse(a.galoreOptimPerParameter);
    assertNull(parse("sft").galoreConfig(), "off unless --use_galore true");
  }

  @Test
  void flagsAreRead() {
    TrainArguments a = parse("sft", "--train_type", "full", "--use_galore", "true", "--galore_rank", "64",
        "--galore_update_proj_gap", "200", "--galore_scale", "0.25", "--galore_target_modules", "q_proj", "v_proj",
        "--galore_with_embedding", "true");
    GaLoreConfig c = a.galoreConfig();
    assertEquals(64, c.rank());
    assertEquals(200, c.updateProjGap());
    assertEquals(0.25f, c.scale());
    assertEquals(List.of("q_proj", "v_proj"), c.targetModules());
    assertTrue(c.withEmbedding());
  }

  @Test
  void qgaloreDefaultsAndFlagsAreMsSwifts() {
    TrainArguments d = parse("sft", "--train_type", "full", "--use_galore", "true", "--galore_quantization", "true");
    jswift.train.QGaLoreConfig q = d.qgaloreConfig();
    assertFalse(q.projQuant(), "galore_proj_quant defaults to false");
    assertEquals(4, q.projBits());
    assertEquals(256, q.projGroupSize());
    assertEquals(0.4f, q.cosThreshold());
    assertEquals(2, q.gammaProj());
    assertEquals(5, q.queueSize());
    assertNull(parse("sft", "--train_type", "full", "--use_galore", "true").qgaloreConfig(), "off by default");
    TrainArguments a = parse("sft", "--train_type", "full", "--use_galore", "true", "--galore_quantization", "true",
        "--galore_proj_quant", "true", "--galore_proj_bits", "8", "--galore_proj_group_size", "128",
        "--galore_cos_threshold", "0.5", "--galore_gamma_proj", "3", "--galore_queue_size", "4");
    q = a.qgaloreConfig();
    assertTrue(q.projQuant());
    assertEquals(8, q.projBits());
    assertEquals(128, q.projGroupSize());
    assertEquals(0.5f, q.cosThreshold());
    assertEquals(3, q.gammaProj());
    assertEquals(4, q.queueSize());
  }
}
