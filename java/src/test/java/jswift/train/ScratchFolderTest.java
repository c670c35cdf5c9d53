package jswift.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The folder a killed LLaMA-Pro run leaves behind is deleted by the next run in the same output directory, while a
 * live run's folder and anything not named like one stay.
 */
class ScratchFolderTest {
  @TempDir Path dir;

  @Test
  void sweepsFoldersOfDeadProcessesOnly() throws IOException, InterruptedException {
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    long dead = p.pid();
    Path stale = Files.createDirectories(dir.resolve(".llamapro-expanded-" + dead + "-123"));
    Files.writeString(stale.resolve("model.safetensors"), "left by a killed run");
    long self = ProcessHandle.current().pid();
    Path live = Files.createDirectories(dir.resolve(".llamapro-expanded-" + self + "-456"));
    Path other = Files.createDirectories(dir.resolve(".llamapro-expanded-notapid"));
    Path unrelated = Files.createDirectories(dir.resolve("v0-20261128"));

    Path made = ScratchFolder.create(dir, "llamapro-expanded");

    assertFalse(Files.exists(stale), "the dead process's folder is deleted");
    assertTrue(Files.isDirectory(live) && Files.isDirectory(other) && Files.isDirectory(unrelated));
    assertTrue(Files.isDirectory(made));
    assertEquals(self, ScratchFolder.ownerPid(made.getFileName().toString(), "llamapro-expanded"));
    assertEquals(0, ScratchFolder.sweepStale(dir, "llamapro-expanded"), "nothing stale is left");
  }
}
