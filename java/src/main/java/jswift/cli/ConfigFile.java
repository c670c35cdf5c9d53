package jswift.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code --config file.yaml} (or .json) for {@code jswift sft} / {@code pt}, as ms-swift reads it: the keys are the
 * command's flags without {@code --} ({@code model: ./m}, {@code dataset: [a.jsonl, b.jsonl]}, {@code lora_rank: 8}),
 * and a flag given on the command line wins over the file. Each value is converted by picocli exactly as the same
 * flag on the command line would be, so the two accept the same things; an unknown key, a list for a single-valued
 * flag, a nested mapping or a value of the wrong type is an error naming the file and the key.
 */
final class ConfigFile {
  private ConfigFile() {}

  /** A command holding only the training flags: the file's values are parsed into it, then copied over. */
  @Command(name = "config")
  static final class Holder {
    @Mixin TrainOptions options = new TrainOptions();
  }

  /**
   * Fills the options of {@code spec} (a parsed sft / pt command) that the command line left unset from the file
   * named by {@code --config}; returns {@code options}, changed in place.
   */
  static TrainOptions apply(CommandSpec spec, TrainOptions options) throws IOException {
    Path file = options.config;
    if (file == null) return options;
    JsonNode root = read(file);
    CommandLine.ParseResult given = spec.commandLine().getParseResult();
    List<String> args = new ArrayList<>();
    List<String> keys = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String key = e.getKey();
      OptionSpec option = key.startsWith("-") || key.equals("config") ? null : spec.findOption("--" + key);
      if (option == null || option.usageHelp() || option.versionHelp() || !List.of(option.names()).contains("--" + key))
        throw new IllegalArgumentException(file + ": unknown key '" + key + "' (keys are the flags of jswift "
            + spec.name() + " without '--': see jswift " + spec.name() + " --help)");
      if (given != null && given.hasMatchedOption(option)) continue;   // the command line wins
      JsonNode v = e.getValue();
      if (v.isNull()) continue;                                         // "key:" with no value keeps the default
      List<JsonNode> values = new ArrayList<>();
      if (v.isArray()) {
        if (!option.isMultiValue())
          throw new IllegalArgumentException(file + ": '" + key + "' takes one value, not a list (" + v + ")");
        v.forEach(values::add);
      } else {
        values.add(v);
      }
      for (JsonNode x : values) {
        if (!x.isValueNode() || x.isNull())
          throw new IllegalArgumentException(file + ": '" + key + "' must be a " + (option.isMultiValue()
              ? "value or a list of values" : "single value") + ", not " + x);
        args.add("--" + key + "=" + x.asText());   // --k=v: a value such as -1 is never taken for a flag
      }
      keys.add(key);
    }
    CommandLine holder = new CommandLine(new Holder());
    try {
      holder.parseArgs(args.toArray(String[]::new));
    } catch (CommandLine.ParameterException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
    for (String key : keys) spec.findOption("--" + key).setValue(holder.getCommandSpec().findOption("--" + key).getValue());
    return options;
  }

  /** The file as a JSON tree (YAML by .yaml/.yml, JSON by .json); it must hold a mapping. */
  private static JsonNode read(Path file) throws IOException {
    String name = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
    ObjectMapper mapper;
    if (name.endsWith(".yaml") || name.endsWith(".yml")) mapper = YAMLMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    else if (name.endsWith(".json")) mapper = JsonMapper.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    else throw new IllegalArgumentException("--config " + file + ": expected a .yaml, .yml or .json file");
    if (!Files.isRegularFile(file)) throw new IllegalArgumentException("--config " + file + ": no such file");
    JsonNode root;
    try {
      root = mapper.readTree(file.toFile());
    } catch (JacksonException e) {
      throw new IllegalArgumentException(file + ": not valid " + (name.endsWith(".json") ? "JSON" : "YAML") + ": "
          + e.getOriginalMessage() + (e.getLocation() == null ? ""
          : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")"), e);
    }
    if (root == null || root.isMissingNode()) return mapper.createObjectNode();   // an empty file
    if (!root.isObject())
      throw new IllegalArgumentException(file + ": expected a mapping of flag names to values, not " + root.getNodeType());
    return root;
  }
}
