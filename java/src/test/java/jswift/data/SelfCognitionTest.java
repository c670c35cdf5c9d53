package jswift.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;
import jswift.template.Message;
import jswift.template.Role;

/** {@code swift/self-cognition}: {{NAME}} / {{AUTHOR}} filled by language tag from --model_name / --model_author. */
class SelfCognitionTest {
  private static final DatasetOptions IDENTITY = DatasetOptions.defaults().withDatasetShuffle(false)
      .withModelIdentity(List.of("小黄", "Xiao Huang"), List.of("魔搭", "ModelScope"));

  @Test
  void placeholdersAreFilledByLanguage() throws IOException {
    try (LoadedDatasets d = DataTesting.load(IDENTITY, "swift/self-cognition")) {
      List<Row> rows = DataTesting.rows(d.train());
      assertEquals(51, rows.size());
      int zh = 0;
      int en = 0;
      for (Row row : rows) {
        String text = row.messages().get(0).content() + "\n" + row.messages().get(1).content();
        assertFalse(text.contains("{{"), text);
        boolean chinese = "zh".equals(row.extra("tag").asText());
        if (chinese) {
          zh++;
          assertFalse(text.contains("Xiao Huang") || text.contains("ModelScope"), text);
        } else {
          en++;
          assertFalse(text.contains("小黄") || text.contains("魔搭"), text);
        }
        assertTrue(text.contains(chinese ? "小黄" : "Xiao Huang") || text.contains(chinese ? "魔搭" : "ModelScope"), text);
      }
      assertEquals(25, zh);
      assertEquals(26, en);
      // the first two rows of the file, filled in: one Chinese, one English
      assertEquals(List.of(new Message(Role.USER, "你是谁？"), new Message(Role.ASSISTANT,
          "我是小黄，由魔搭开发的人工智能助手。我可以回答问题、解释概念、帮你写作和解决问题。")), rows.get(0).messages());
      assertEquals(List.of(new Message(Role.USER, "Who are you?"), new Message(Role.ASSISTANT, "I am Xiao Huang, an AI "
          + "assistant built by ModelScope. I can answer questions, explain ideas, help with writing and work through "
          + "problems with you.")), rows.get(1).messages());
    }
  }

  @Test
  void oneValueServesBothLanguagesAndSamplingWorks() throws IOException {
    DatasetOptions one = DatasetOptions.defaults().withModelIdentity(List.of("Nova"), List.of("Acme Labs"));
    try (LoadedDatasets d = DataTesting.load(one, "swift/self-cognition#120")) {
      List<Row> rows = DataTesting.rows(d.train());
      assertEquals(120, rows.size());
      for (Row row : rows) {
        String answer = row.messages().get(1).content();
        assertTrue(answer.contains("Nova") || answer.contains("Acme Labs"), answer);
      }
    }
    // ms-swift's Hugging Face id names the same dataset
    try (LoadedDatasets d = DataTesting.load(one, "modelscope/self-cognition#5")) {
      assertEquals(5, d.trainList().size());
    }
  }

  @Test
  void missingIdentityIsAnError() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DataTesting.load(DatasetOptions.defaults(), "swift/self-cognition#10"));
    assertTrue(e.getMessage().startsWith("swift/self-cognition needs --model_name and --model_author"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DataTesting.load(
        DatasetOptions.defaults().withModelIdentity(List.of("A"), List.of()), "swift/self-cognition"));
  }

  @Test
  void mixesWithOtherDatasets() throws IOException {
    try (LoadedDatasets d = DataTesting.load(IDENTITY, "jswift/quickstart-sft#30", "swift/self-cognition#10")) {
      assertEquals(40, d.trainList().size());
      long identity = DataTesting.rows(d.train()).stream().filter(r -> r.extra("tag") != null).count();
      assertEquals(10, identity);
    }
  }
}
