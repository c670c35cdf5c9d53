package jswift.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jswift.cli.QuickStart;
import jswift.data.DatasetException;
import jswift.model.Batch;
import jswift.model.CausalLM;
import jswift.tensor.Device;
import jswift.template.Conversation;
import jswift.template.ConversationEncoder;
import jswift.template.Message;
import jswift.template.TemplateOptions;
import jswift.template.Templates;
import jswift.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * general_mcq files and their scoring on the bundled chat model: each choice is the option letter the model finds
 * most likely, checked against logits computed here by a full forward pass of the same prompt.
 */
class MultipleChoiceTest {
  static final Path MODEL = Path.of(System.getProperty("user.dir")).getParent().resolve(QuickStart.MODEL);
  static final String CSV = "id,question,A,B,C,D,answer\n"
      + "1,Which gas do plants absorb?,O2,CO2,N2,H2,B\n"
      + "2,What is the capital of Italy?,Paris,Rome,Madrid,,b\n"
      + "3,\"Which is a fruit, not a vegetable?\",Carrot,Potato,Apple,Leek,C\n";

  @Test
  void readsQuestionsAndNamesBadRows(@TempDir Path dir) throws IOException {
    Path f = Files.writeString(dir.resolve("law_val.csv"), CSV);
    List<MultipleChoice.Question> q = MultipleChoice.read(f);
    assertEquals(3, q.size());
    assertEquals(List.of("O2", "CO2", "N2", "H2"), q.get(0).options());
    assertEquals(List.of("Paris", "Rome", "Madrid"), q.get(1).options(), "an empty last option: three options");
    assertEquals(1, q.get(1).answer(), "the answer letter is read case-insensitively");
    assertEquals("Which is a fruit, not a vegetable?", q.get(2).question());
    assertEquals("Which gas do plants absorb?\nA. O2\nB. CO2\nC. N2\nD. H2\nAnswer with the letter of the correct option.",
        MultipleChoice.prompt(q.get(0)));
    Path bad = Files.writeString(dir.resolve("bad_val.csv"), "id,question,A,B,answer\n1,q,x,y,C\n");
    DatasetException e = assertThrows(DatasetException.class, () -> MultipleChoice.read(bad));
    assertTrue(e.getMessage().contains("bad_val.csv") && e.getMessage().contains(":2")
        && e.getMessage().contains("not the letter of one of its 2 options"), e.getMessage());
    Path noOptions = Files.writeString(dir.resolve("x_val.csv"), "id,question,answer\n1,q,A\n");
    assertTrue(assertThrows(DatasetException.class, () -> MultipleChoice.read(noOptions)).getMessage()
        .contains("option columns A, B"));
  }

  @Test
  void choosesTheMostLikelyLetterAfterTheExamples(@TempDir Path dir) throws IOException {
    List<MultipleChoice.Question> q = MultipleChoice.read(Files.writeString(dir.resolve("s_val.csv"), CSV));
    try (CausalLM lm = CausalLM.load(MODEL, Device.CPU); Tokenizer tok = Tokenizer.load(MODEL)) {
      ConversationEncoder template = Templates.create(lm.config().architecture().template(), tok, TemplateOptions.DEFAULT);
      List<MultipleChoice.Question> shots = q.subList(0, 1), asked = q.subList(1, 3);
      MultipleChoice.Result r = MultipleChoice.evaluate(lm, tok, template, null, shots, asked, null);
      assertEquals(2, r.rows().size());
      int[] letters = MultipleChoice.letterIds(tok);
      int correct = 0;
      for (int k = 0; k < asked.size(); k++) {
        MultipleChoice.Question question = asked.get(k);
        List<Message> m = new ArrayList<>(List.of(Message.user(MultipleChoice.prompt(shots.get(0))), Message.assistant("B"),
            Message.user(MultipleChoice.prompt(question))));
        int[] ids = template.encodePrompt(Conversation.of(m)).inputIds();
        int vocab = lm.config().vocabSize();
        float[] all = lm.logits(Batch.packed(List.of(ids), List.of(ids)));
        int last = (ids.length - 1) * vocab, best = 0;
        for (int i = 1; i < question.options().size(); i++)
          if (all[last + letters[i]] > all[last + letters[best]]) best = i;
        MultipleChoice.Scored s = r.rows().get(k);
        assertEquals(best, s.chosen(), "question " + question.id());
        assertEquals(question.options().size(), s.logprobs().length);
        for (int i = 0; i < s.logprobs().length; i++) {
          assertTrue(s.logprobs()[i] < 0, "a log-probability");
          assertEquals(all[last + letters[i]] - all[last + letters[s.chosen()]], s.logprobs()[i] - s.logprobs()[s.chosen()],
              1e-3, "option " + i + " of question " + question.id());
        }
        correct += best == question.answer() ? 1 : 0;
      }
      assertEquals(correct, r.correct());
      assertEquals(correct / 2.0, r.accuracy(), 1e-12);
    }
  }
}
