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
}
