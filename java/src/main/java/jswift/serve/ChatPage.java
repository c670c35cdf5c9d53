package jswift.serve;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The chat page of {@code jswift app} (resource {@code chat.html}): plain HTML and JavaScript over the server's
 * own API, which lists the served models, keeps the conversation, and streams each answer as it is generated.
 */
final class ChatPage {
  private ChatPage() {}

  /** The page with its title (HTML-escaped). */
  static byte[] html(String title) {
    String page;
    try (InputStream in = ChatPage.class.getResourceAsStream("chat.html")) {
      if (in == null) throw new IllegalStateException("the chat page resource jswift/serve/chat.html is missing");
      page = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return page.replace("{{TITLE}}", escape(title)).getBytes(StandardCharsets.UTF_8);
  }

  static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;").replace("'", "&#39;");
  }
}
