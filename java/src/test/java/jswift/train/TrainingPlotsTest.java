package jswift.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** images/*.png: ms-swift's names, decodable 800 x 500 PNGs whose curves follow the data. */
class TrainingPlotsTest {

  /** A log like the trainer's: a descending loss, a constant learning rate, evals every 5 steps. */
  private static List<ObjectNode> history(int steps) {
    List<ObjectNode> h = new ArrayList<>();
    for (int s = 1; s <= steps; s++) {
      ObjectNode n = TrainingLog.JSON.createObjectNode();
      n.put("loss", 3.0 / s + 0.1 * Math.sin(s));
      n.put("grad_norm", 1.0 / s);
      n.put("learning_rate", 1e-4);
      n.put("epoch", s / 10.0);
      n.put("global_step/max_steps", s + "/" + steps);
      h.add(n);
      if (s % 5 == 0) {
        ObjectNode e = TrainingLog.JSON.createObjectNode();
        e.put("eval_loss", 2.0 / s);
        e.put("eval_token_acc", 0.5 + s / 100.0);
        e.put("global_step/max_steps", s + "/" + steps);
        h.add(e);
      }
    }
    ObjectNode event = TrainingLog.JSON.createObjectNode();
    event.put("event", "something happened");
    event.put("global_step/max_steps", steps + "/" + steps);
    h.add(event);
    return h;
  }

  @Test
  void writesMsSwiftNamedPngsOfTheRightSize(@TempDir Path dir) throws IOException {
    List<Path> files = TrainingPlots.write(dir.resolve("images"), history(20));
    assertEquals(List.of("train_loss.png", "train_learning_rate.png", "train_grad_norm.png", "train_epoch.png",
        "eval_loss.png", "eval_token_acc.png"), files.stream().map(p -> p.getFileName().toString()).toList());
    try (var s = Files.list(dir.resolve("images"))) {
      assertEquals(6, s.count(), "no temporary file is left behind");
    }
    for (Path f : files) {
      BufferedImage im = ImageIO.read(f.toFile());
      assertNotNull(im, f + " decodes");
      assertEquals(LineChart.WIDTH, im.getWidth());
      assertEquals(LineChart.HEIGHT, im.getHeight());
      assertTrue(count(im, LineChart.SMOOTH) > 100, f + ": the curve is drawn");
      assertTrue(count(im, Color.BLACK) + count(im, new Color(0x33, 0x33, 0x33)) > 500, f + ": axes and text");
    }
    // Only the training loss is smoothed: its raw curve is drawn in the pale colour under the smoothed one.
    assertTrue(count(ImageIO.read(files.get(0).toFile()), LineChart.RAW) > 100);
    assertEquals(0, count(ImageIO.read(files.get(1).toFile()), LineChart.RAW));
  }

  @Test
  void aFlatAndADescendingSeriesDrawDifferently() {
    double[] steps = {1, 2, 3, 4, 5, 6, 7, 8};
    BufferedImage flat = LineChart.draw("flat", steps, new double[] {2, 2, 2, 2, 2, 2, 2, 2}, false);
    BufferedImage down = LineChart.draw("down", steps, new double[] {8, 7, 6, 5, 4, 3, 2, 1}, false);
    int[] f = rows(flat, LineChart.SMOOTH), d = rows(down, LineChart.SMOOTH);
    assertTrue(f[1] - f[0] <= 4, "a flat series is a horizontal line: rows " + f[0] + ".." + f[1]);
    assertTrue(d[1] - d[0] > 300, "a descending series spans the plot: rows " + d[0] + ".." + d[1]);
    // Descending: the curve's leftmost pixels are above (smaller row) its rightmost ones.
    assertTrue(rowAtColumnEdge(down, true) < rowAtColumnEdge(down, false));
    BufferedImage one = LineChart.draw("single", new double[] {3}, new double[] {0.5}, true);
    assertTrue(count(one, LineChart.SMOOTH) > 20, "a single point is drawn as a dot");
  }

  @Test
  void smoothingIsTensorBoards() {
    // s_0 = v_0; s_1 = (0.9 v_0 + v_1) / 1.9; s_2 = (0.81 v_0 + 0.9 v_1 + v_2) / 2.71
    double[] s = LineChart.smooth(new double[] {1, 2, 4}, 0.9);
    assertArrayEquals(new double[] {1, 2.9 / 1.9, (0.81 + 1.8 + 4) / 2.71}, s, 1e-12);
  }

  @Test
  void nonFiniteValuesLeaveAGapInsteadOfBreakingTheChart() {
    BufferedImage im = LineChart.draw("gap", new double[] {1, 2, 3, 4, 5, 6},
        new double[] {1, 2, Double.NaN, 3, 4, Double.POSITIVE_INFINITY}, false);
    assertTrue(count(im, LineChart.SMOOTH) > 20, "the finite points are still drawn");
  }

  private static int count(BufferedImage im, Color c) {
    int n = 0;
    for (int y = 0; y < im.getHeight(); y++)
      for (int x = 0; x < im.getWidth(); x++) if (close(im.getRGB(x, y), c)) n++;
    return n;
  }

  private static boolean close(int rgb, Color c) {
    int r = (rgb >> 16) & 255, g = (rgb >> 8) & 255, b = rgb & 255;
    return Math.abs(r - c.getRed()) + Math.abs(g - c.getGreen()) + Math.abs(b - c.getBlue()) <= 24;
  }

  /** The first and last rows holding the colour. */
  private static int[] rows(BufferedImage im, Color c) {
    int lo = Integer.MAX_VALUE, hi = -1;
    for (int y = 0; y < im.getHeight(); y++)
      for (int x = 0; x < im.getWidth(); x++)
        if (close(im.getRGB(x, y), c)) {
          lo = Math.min(lo, y);
          hi = Math.max(hi, y);
        }
    return new int[] {lo, hi};
  }

  /** The mean row of the colour in the leftmost (or rightmost) column that has it. */
  private static double rowAtColumnEdge(BufferedImage im, boolean left) {
    for (int i = 0; i < im.getWidth(); i++) {
      int x = left ? i : im.getWidth() - 1 - i;
      List<Integer> ys = new ArrayList<>();
      for (int y = 0; y < im.getHeight(); y++) if (close(im.getRGB(x, y), LineChart.SMOOTH)) ys.add(y);
      if (!ys.isEmpty()) return ys.stream().collect(Collectors.averagingInt(Integer::intValue));
    }
    throw new AssertionError("colour not found");
  }
}
