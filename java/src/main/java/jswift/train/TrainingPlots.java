package jswift.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import jswift.model.AtomicFile;

/**
 * The run's {@code images/} folder: one PNG per logged metric, named as ms-swift names them (its TensorBoard tag
 * with '/' replaced by '_': {@code train_loss.png}, {@code train_learning_rate.png}, {@code train_grad_norm.png},
 * {@code train_token_acc.png}, {@code train_epoch.png}, {@code eval_loss.png}, {@code eval_token_acc.png}). Only
 * {@code train/loss} is smoothed, as in ms-swift. Redrawn from the log history at each save and at the end; every
 * file is written atomically (temp + rename), so a reader never sees half a PNG.
 */
final class TrainingPlots {
  /** logging.jsonl key -> TensorBoard tag, in the order they are drawn. */
  private static final Map<String, String> TAGS = new LinkedHashMap<>();

  static {
    TAGS.put("loss", "train/loss");
    TAGS.put("learning_rate", "train/learning_rate");
    TAGS.put("grad_norm", "train/grad_norm");
    TAGS.put("token_acc", "train/token_acc");
    TAGS.put("epoch", "train/epoch");
    TAGS.put("eval_loss", "eval/loss");
    TAGS.put("eval_token_acc", "eval/token_acc");
  }

  private TrainingPlots() {}

  /** Draws every metric present in {@code history} into {@code imagesDir}; returns the files written. */
  static List<Path> write(Path imagesDir, List<? extends JsonNode> history) throws IOException {
    Files.createDirectories(imagesDir);
    List<Path> written = new ArrayList<>();
    for (Map.Entry<String, String> e : TAGS.entrySet()) {
      List<double[]> points = new ArrayList<>();
      for (JsonNode n : history) {
        JsonNode v = n.get(e.getKey());
        long step = step(n);
        if (v != null && v.isNumber() && step >= 0) points.add(new double[] {step, v.asDouble()});
      }
      if (points.isEmpty()) continue;
      double[] steps = new double[points.size()], values = new double[points.size()];
      for (int i = 0; i < steps.length; i++) {
        steps[i] = points.get(i)[0];
        values[i] = points.get(i)[1];
      }
      String tag = e.getValue();
      var image = LineChart.draw(tag, steps, values, tag.equals("train/loss"));
      ByteArrayOutputStream png = new ByteArrayOutputStream();
      if (!ImageIO.write(image, "png", png)) throw new IOException("no PNG writer in this Java runtime");
      Path file = imagesDir.resolve(tag.replace('/', '_') + ".png");
      AtomicFile.write(file, ch -> {
        ByteBuffer b = ByteBuffer.wrap(png.toByteArray());
        while (b.hasRemaining()) ch.write(b);
      });
      written.add(file);
    }
    return written;
  }

  /** The step of a log line ("global_step/max_steps": "12/100"), or -1. */
  private static long step(JsonNode n) {
    String s = n.path("global_step/max_steps").asText("");
    int slash = s.indexOf('/');
    try {
      return Long.parseLong(slash < 0 ? s : s.substring(0, slash));
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
