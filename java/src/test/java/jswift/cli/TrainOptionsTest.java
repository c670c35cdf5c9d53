package jswift.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import jswift.train.TrainArguments;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The LISA and LLaMA-Pro flags of {@code jswift sft} / {@code pt}: ms-swift's names and defaults. */
class TrainOptionsTest {
  private static TrainArguments parse(String... flags) {
    SftCommand sft = new SftCommand();
    new CommandLine(sft).parseArgs(flags);
    return sft.options.arguments();
  }

  @Test
  void lisaAndLlamaProFlags() {
    TrainArguments d = parse("--model", "m", "--dataset", "d.jsonl");
    assertEquals(0, d.lisaActivatedLayers, "LISA is off by default");
    assertEquals(20, d.lisaStepInterval);
    assertEquals(4, d.llamaproNumNewBlocks);
    assertNull(d.llamaproNumGroups);
    TrainArguments lisa = parse("--model", "m", "--dataset", "d.jsonl", "--train_type", "full",
        "--lisa_activated_layers", "2", "--lisa_step_interval", "5");
    assertEquals(2, lisa.lisaActivatedLayers);
    assertEquals(5, lisa.lisaStepInterval);
    TrainArguments pro = parse("--model", "m", "--dataset", "d.jsonl", "--tuner_type", "llamapro",
        "--llamapro_num_new_blocks", "8", "--llamapro_num_groups", "4");
    assertEquals("llamapro", pro.trainType);
    assertEquals(8, pro.llamaproNumNewBlocks);
    assertEquals(4, pro.llamaproNumGroups);
  }
}
