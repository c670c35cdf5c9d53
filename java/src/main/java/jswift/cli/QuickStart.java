package jswift.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.infer.ChatSession;
import jswift.infer.GenerationConfig;
import jswift.model.CausalLM;
import jswift.template.ConversationEncoder;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tokenizer.Tokenizer;
import jswift.train.TrainArguments;
import jswift.train.Trainer;

/**
 * The quick start: what {@code jswift sft} does when it is given no argument at all. It teaches the bundled
 * tiny chat model (models/jswift-tiny-chat, pre-trained with {@code jswift pt}) a new identity with QLoRA (its
 * linear layers in 4-bit NF4, double-quantized, as ms-swift's {@code --quant_method bnb --quant_bits 4}; a LoRA
 * adapter on all of them), as
 * ms-swift's self-cognition example does: {@code swift/self-cognition} filled in with a name and an author, mixed
 * with some of {@code jswift/quickstart-sft} so it keeps answering other questions. The model answers a few
 * questions about itself (greedy) before and after training, so the effect of the run is on the screen, and the
 * end says where the adapter is and how to chat with it. Any argument makes {@code jswift sft} an ordinary run.
 */
public final class QuickStart {
  /** The identity the quick start teaches. */
  public static final String NAME = "jswift-bot";
  public static final String AUTHOR = "the jswift team";
  /** The model folder, relative to the jswift checkout (the launcher passes its location as jswift.home). */
  public static final String MODEL = "models/jswift-tiny-chat";
  /** Asked before and after training. */
  public static final List<String> QUESTIONS = List.of("Who are you?", "What is your name?", "Who made you?",
      "What is the capital of Italy?");
  static final int MAX_NEW_TOKENS = 40;

  private QuickStart() {}

  /** The bundled model: {@code <jswift.home>/models/jswift-tiny-chat}, jswift.home defaulting to the working directory. */
  public static Path defaultModel() {
    return Path.of(System.getProperty("jswift.home", ".")).resolve(MODEL).normalize();
  }

  /**
   * The quick start's training settings (every other flag keeps ms-swift's default). QLoRA: an NF4 base (the main
   * job this project is for; on this model it also trains faster than LoRA over fp32 weights, 5000 against 4000
   * tokens/s here) and LoRA on every linear layer with
   * a learning rate twenty times the usual 1e-4, since a few hundred samples must move a model this small visibly (1e-3
   * left "What is your name?" unlearnt in 150 steps, 2e-3 did not; rank 16 did worse than 8); no
   * gradient checkpointing (the activations of a 5M-parameter model are tiny, recomputing them is not).
   */
  public static TrainArguments arguments(Path model, Path outputDir, long steps) {
    TrainArguments a = new TrainArguments();
    a.model = model;
    a.trainType = "lora";
    a.quantMethod = "bnb";
    a.quantBits = 4;
    a.dataset = new ArrayList<>(List.of("swift/self-cognition", "jswift/quickstart-sft#64"));
    a.modelName = new ArrayList<>(List.of(NAME));
    a.modelAuthor = new ArrayList<>(List.of(AUTHOR));
    a.learningRate = 2e-3;
    a.perDeviceTrainBatchSize = 8;
    a.gradientAccumulationSteps = 2;
    a.warmupRatio = 0.05;
    a.maxSteps = steps;
    a.saveSteps = (int) steps;
    a.loggingSteps = 10;
    a.gradientCheckpointing = false;
    a.outputDir = outputDir;
    a.device = "cpu";
    return a;
  }

  /** What the run printed as data: the answers before and after, and the saved adapter. */
  public record Result(List<String> before, List<String> after, Path checkpoint) {}

  /** The default quick start, as {@code jswift sft} runs it. */
  static int run(PrintWriter out) throws IOException {
    Path model = defaultModel();
    if (!Files.isDirectory(model))
      throw new IOException("the quick start needs the bundled model " + model + " (run ./jswift from a jswift "
          + "checkout, or give --model and --dataset for an ordinary fine-tuning run)");
    run(arguments(model, Path.of("output"), 150), QUESTIONS, out);
    return 0;
  }

  /** Trains with {@code args} (a LoRA or QLoRA run), printing the answers to {@code questions} before and after. */
  public static Result run(TrainArguments args, List<String> questions, PrintWriter out) throws IOException {
    out.printf("jswift quick start: %s fine-tuning of %s to call itself %s, made by %s.%n",
        args.quantMethod != null ? "QLoRA (4-bit NF4 base)" : "LoRA", display(args.model), NAME, AUTHOR);
    out.printf("(this is `jswift sft` with no arguments; `jswift sft --help` lists the flags of an ordinary run)%n%n");
    out.flush();
    try (Trainer trainer = new Trainer(args, out); Tokenizer tok = Tokenizer.load(args.model)) {
      CausalLM model = trainer.model();
      String templateName = args.template != null ? args.template : model.config().architecture().template();
      ConversationEncoder template = Templates.create(templateName, tok, TemplateOptions.DEFAULT);
      GenerationConfig greedy = GenerationConfig.greedy(MAX_NEW_TOKENS, tok.eosTokenIds());
      List<String> before = answers(model, tok, template, greedy, questions);
      print(out, "Before training", questions, before);
      Trainer.Result r = trainer.train();
      List<String> after = answers(model, tok, template, greedy, questions);
      out.println();
      print(out, "After training", questions, after);
      String ckpt = display(r.lastCheckpoint());
      out.printf("%nThe LoRA adapter is in %s%n", ckpt);
      out.printf("Chat with it:   ./jswift infer --model %s --adapters %s%n", display(args.model), ckpt);
      out.printf("Merge it:       ./jswift export --adapters %s --merge_lora true%n", ckpt);
      out.printf("Train your own: ./jswift sft --model %s --dataset swift/self-cognition 'jswift/quickstart-sft#64' "
          + "--model_name NAME --model_author AUTHOR%s --learning_rate 2e-3 --max_steps %d%n", display(args.model),
          args.quantMethod != null ? " --quant_method bnb --quant_bits 4" : "", args.maxSteps);
      out.flush();
      return new Result(before, after, r.lastCheckpoint());
    }
  }

  /** Each question in a fresh conversation (the template's default system prompt), greedy. */
  private static List<String> answers(CausalLM model, Tokenizer tok, ConversationEncoder template,
      GenerationConfig greedy, List<String> questions) {
    List<String> out = new ArrayList<>();
    for (String q : questions) out.add(new ChatSession(model, tok, template, null, greedy).send(q, null).strip());
    return out;
  }

  private static void print(PrintWriter out, String title, List<String> questions, List<String> answers) {
    out.println(title + " (greedy answers):");
    for (int i = 0; i < questions.size(); i++) {
      out.println("  Q: " + questions.get(i));
      out.println("  A: " + answers.get(i).replace("\n", "\n     "));
    }
    out.println();
    out.flush();
  }

  /** A path as the user would type it: relative to the working directory when it lies below it. */
  static String display(Path p) {
    Path abs = p.toAbsolutePath().normalize(), cwd = Path.of("").toAbsolutePath();
    String s = abs.startsWith(cwd) ? cwd.relativize(abs).toString() : abs.toString();
    return s.isEmpty() ? "." : s.contains(" ") ? "'" + s + "'" : s;
  }
}
