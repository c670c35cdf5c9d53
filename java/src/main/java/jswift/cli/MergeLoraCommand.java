package jswift.cli;

import picocli.CommandLine.Command;

/**
 * {@code jswift merge-lora}: ms-swift's {@code swift merge-lora}, which is {@code export --merge_lora true} (the same
 * flags: --adapters, --model, --output_dir, --exist_ok, --max_shard_size, --device).
 */
@Command(name = "merge-lora", mixinStandardHelpOptions = true,
    description = "Merge a LoRA adapter into its base model (jswift export --merge_lora true).")
public final class MergeLoraCommand extends ExportCommand {
  public MergeLoraCommand() {
    mergeLora = true;
  }
}
