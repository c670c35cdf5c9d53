package jswift.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One metric against the training step, drawn with java.awt the way ms-swift's {@code plot_images} draws it with
 * matplotlib: an 8 x 5 inch figure at 100 dpi (800 x 500 pixels), the metric's tag as the title, axes with ticks
 * and labels, and for smoothed metrics the raw curve in a pale colour under a TensorBoard-style exponentially
 * smoothed curve in a strong one (ms-swift's colours). A single point is drawn as a dot. Works headless (no
 * display needed): the image is drawn into memory.
 */
final class LineChart {
  static final int WIDTH = 800, HEIGHT = 500;
  /** ms-swift's TB_COLOR (the raw curve under a smoothed one) and TB_COLOR_SMOOTH (every other curve). */
  static final Color RAW = new Color(0xFF, 0xE2, 0xD9), SMOOTH = new Color(0xFF, 0x70, 0x43);
  private static final Color AXIS = new Color(0x33, 0x33, 0x33), GRID = new Color(0xE6, 0xE6, 0xE6);
  private static final int LEFT = 80, RIGHT = 24, TOP = 40, BOTTOM = 56;

  static {
    // Rendering into a BufferedImage needs no display; say so before AWT initialises (servers have none).
    if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
  }

  private LineChart() {}

  /**
   * TensorBoard's smoothing, as ms-swift's {@code tensorboard_smoothing}: a debiased exponential moving average,
   * {@code s_i = (sum_j<=i w^(i-j) v_j) / (sum_j<=i w^(i-j))}, so the first value is itself.
   */
  static double[] smooth(double[] values, double weight) {
    double[] out = new double[values.length];
    double x = 0, norm = 1;
    for (int i = 0; i < values.length; i++) {
      x = x * weight + values[i];
      out[i] = x / norm;
      norm = norm * weight + 1;
    }
    return out;
  }

  /** Draws {@code values} (at {@code steps}, same length, at least one) titled {@code title}. */
  static BufferedImage draw(String title, double[] steps, double[] values, boolean smoothed) {
    if (steps.length != values.length || steps.length == 0)
      throw new IllegalArgumentException(title + ": " + steps.length + " steps for " + values.length + " values");
    BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, WIDTH, HEIGHT);
      double[] smoothedValues = smoothed && values.length > 1 ? smooth(values, 0.9) : null;
      Range x = Range.of(steps, null), y = Range.of(values, smoothedValues);
      Axes axes = new Axes(x, y);
      axes.drawGridAndTicks(g);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
      FontMetrics fm = g.getFontMetrics();
      g.setColor(AXIS);
      g.drawString(title, (WIDTH - fm.stringWidth(title)) / 2, TOP - 14);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
      fm = g.getFontMetrics();
      g.drawString("step", LEFT + (WIDTH - LEFT - RIGHT - fm.stringWidth("step")) / 2, HEIGHT - 12);
      g.setClip(LEFT, TOP, WIDTH - LEFT - RIGHT + 1, HEIGHT - TOP - BOTTOM + 1);
      if (values.length == 1) {
        g.setColor(SMOOTH);
        g.fill(new Ellipse2D.Double(axes.px(steps[0]) - 4, axes.py(values[0]) - 4, 8, 8));
      } else {
        g.setStroke(new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        if (smoothedValues != null) {
          g.setColor(RAW);
          g.draw(axes.path(steps, values));
          g.setColor(SMOOTH);
          g.draw(axes.path(steps, smoothedValues));
        } else {
          g.setColor(SMOOTH);
          g.draw(axes.path(steps, values));
        }
      }
    } finally {
      g.dispose();
    }
    return image;
  }

  /** A value range with "nice" tick marks (1, 2 or 5 times a power of ten). */
  private record Range(double lo, double hi, double tick) {
    static Range of(double[] a, double[] b) {
      double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
      for (double[] arr : new double[][] {a, b}) {
        if (arr == null) continue;
        for (double v : arr) {
          if (!Double.isFinite(v)) continue;
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
      if (lo > hi) { lo = 0; hi = 1; }   // nothing finite to show
      if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
        // A flat series sits in the middle of a small band around its value.
        double pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.05 : 0.5;
        lo -= pad;
        hi += pad;
      }
      double tick = niceStep((hi - lo) / 6);
      return new Range(Math.floor(lo / tick) * tick, Math.ceil(hi / tick) * tick, tick);
    }

    private static double niceStep(double raw) {
      double p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
      return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    }

    List<Double> ticks() {
      List<Double> t = new ArrayList<>();
      long n = Math.round((hi - lo) / tick);
      for (long i = 0; i <= n; i++) t.add(lo + i * tick);
      return t;
    }
  }

  /** Maps data to pixels inside the plot area and draws the frame, grid and tick labels. */
  private record Axes(Range x, Range y) {
    double px(double v) {
      return LEFT + (v - x.lo) / (x.hi - x.lo) * (WIDTH - LEFT - RIGHT);
    }

    double py(double v) {
      return HEIGHT - BOTTOM - (v - y.lo) / (y.hi - y.lo) * (HEIGHT - TOP - BOTTOM);
    }

    Path2D path(double[] xs, double[] ys) {
      Path2D.Double p = new Path2D.Double();
      boolean started = false;
      for (int i = 0; i < xs.length; i++) {
        if (!Double.isFinite(ys[i])) { started = false; continue; }   // a gap, not a spike
        if (started) p.lineTo(px(xs[i]), py(ys[i]));
        else p.moveTo(px(xs[i]), py(ys[i]));
        started = true;
      }
      return p;
    }

    void drawGridAndTicks(Graphics2D g) {
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
      FontMetrics fm = g.getFontMetrics();
      int x0 = LEFT, x1 = WIDTH - RIGHT, y0 = HEIGHT - BOTTOM, y1 = TOP;
      for (double t : x.ticks()) {
        int p = (int) Math.round(px(t));
        g.setColor(GRID);
        g.drawLine(p, y1, p, y0);
        g.setColor(AXIS);
        g.drawLine(p, y0, p, y0 + 5);
        String s = label(t, x.tick);
        g.drawString(s, p - fm.stringWidth(s) / 2, y0 + 7 + fm.getAscent());
      }
      for (double t : y.ticks()) {
        int p = (int) Math.round(py(t));
        g.setColor(GRID);
        g.drawLine(x0, p, x1, p);
        g.setColor(AXIS);
        g.drawLine(x0 - 5, p, x0, p);
        String s = label(t, y.tick);
        g.drawString(s, x0 - 8 - fm.stringWidth(s), p + fm.getAscent() / 2 - 1);
      }
      g.setColor(AXIS);
      g.drawRect(x0, y1, x1 - x0, y0 - y1);
    }

    /** As few digits as the tick spacing needs; scientific for very large or small numbers (learning rates). */
    private static String label(double v, double tick) {
      if (Math.abs(v) < tick * 1e-9) return "0";
      double mag = Math.max(Math.abs(v), tick);
      if (mag >= 1e5 || mag < 1e-3) return String.format(Locale.ROOT, "%.2e", v);
      int decimals = Math.max(0, (int) -Math.floor(Math.log10(tick) + 1e-9));
      return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }
  }
}
