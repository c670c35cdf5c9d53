package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Against transformers' schedules (lr_lambda(current_step) with current_step = optimizer step - 1). */
class LrScheduleTest {
  @Test
  void cosineWithWarmup() {
    LrSchedule s = new LrSchedule("cosine", 1e-4, 10, 100);
    assertEquals(0.0, s.rate(1), 1e-15);             // lambda(0) = 0 / 10
    assertEquals(0.5e-4, s.rate(6), 1e-12);          // lambda(5) = 5 / 10
    assertEquals(1e-4, s.rate(11), 1e-12);           // lambda(10): progress 0
    assertEquals(0.5e-4, s.rate(56), 1e-12);         // lambda(55): progress 0.5 -> cos(pi/2) = 0 -> 0.5
    assertEquals(0.5e-4 * (1 + Math.cos(Math.PI * 89 / 90.0)), s.rate(100), 1e-12);
  }

  @Test
  void linearAndConstant() {
    LrSchedule l = new LrSchedule("linear", 2e-4, 0, 50);
    assertEquals(2e-4, l.rate(1), 1e-12);
    assertEquals(2e-4 * 25 / 50, l.rate(26), 1e-12);
    assertEquals(1e-3, new LrSchedule("constant", 1e-3, 0, 5).rate(5), 0);
    assertEquals(3, LrSchedule.warmupSteps(0, 0.03, 100));
    assertEquals(7, LrSchedule.warmupSteps(7, 0.5, 100));
    assertThrows(IllegalArgumentException.class, () -> new LrSchedule("polynomial", 1, 0, 10));
  }
}
