package jswift.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Step 1 of the swift backend: checks a conversation and turns it into a {@link Dialogue}. Tool calls become
 * assistant text (through the agent template), consecutive messages of the same role are merged (as ms-swift
 * does, so a split answer is one response), the reasoning rules of thinking models are applied, tool results
 * are written in the template's format, and the messages are paired into (query, response) rounds. The
 * system text is picked (row, else option, else the template's default) and extended with the tools.
 *
 * <p>Errors name the message (its index in the row) and what is wrong with it.
 */
final class DialogueBuilder {
  private DialogueBuilder() {}

  static Dialogue build(Conversation conv, TemplateMeta meta, AgentTemplate agent, TemplateOptions options, boolean training) {
    List<Message> msgs = conv.messages();
    if (msgs.isEmpty()) throw new IllegalArgumentException("the conversation has no messages");
    String rowSystem = null;
    int start = 0;
    if (msgs.get(0).role() == Role.SYSTEM) {
      rowSystem = msgs.get(0).content();
      start = 1;
    }
    for (int i = start; i < msgs.size(); i++) {
      if (msgs.get(i).role() == Role.SYSTEM)
        throw new IllegalArgumentException("message " + i + " is a system message: only the first message may be one");
    }
    int end = msgs.size();
    // At inference the model writes the answer: a trailing assistant message is the one being asked for (ms-swift
    // drops it the same way), so a training row can be turned into its prompt.
    if (!training && end > start && msgs.get(end - 1).role() == Role.ASSISTANT) end--;
    if (end == start) throw new IllegalArgumentException("the conversation has no user or assistant message");

    List<Turn> turns = turns(msgs, start, end, agent);
    if (!conv.tools().isEmpty() && turns.get(0).kind == Turn.Kind.USER)
      turns.get(0).content = agent.formatFirstQuery(conv.tools(), turns.get(0).content);
    if (turns.get(0).kind == Turn.Kind.ASSISTANT) turns.add(0, new Turn(Turn.Kind.USER, -1, "", null));  // pre-training text
    ThinkingRules.apply(turns, meta, options, training);
    List<Round> rounds = rounds(turns, meta, agent);

    Round last = rounds.get(rounds.size() - 1);
    if (training && last.response() == null) {
      Turn t = turns.get(turns.size() - 1);
      throw new IllegalArgumentException("the conversation ends with " + (t.kind == Turn.Kind.TOOL ? "tool results" : "a user turn")
          + " (message " + t.index + "): training needs an assistant response to learn from");
    }
    if (!meta.supportsMultiRound() && rounds.size() > 1)
      throw new IllegalArgumentException("template '" + meta.name() + "' has no multi-turn format, and the conversation has "
          + rounds.size() + " rounds");
    return new Dialogue(system(rowSystem, conv, meta, agent, options), rounds);
  }

  private static List<Turn> turns(List<Message> msgs, int start, int end, AgentTemplate agent) {
    List<Turn> turns = new ArrayList<>();
    for (int i = start; i < end; i++) {
      Message m = msgs.get(i);
      Turn last = turns.isEmpty() ? null : turns.get(turns.size() - 1);
      switch (m.role()) {
        case USER -> {
          if (last != null && last.kind == Turn.Kind.USER) last.content += m.content();
          else if (last != null && last.kind == Turn.Kind.TOOL)
            throw new IllegalArgumentException("message " + i + " (user) follows tool results (message " + last.index
                + ") with no assistant turn in between; put the results and the question in one turn");
          else turns.add(new Turn(Turn.Kind.USER, i, m.content(), null));
        }
        case ASSISTANT, TOOL_CALL -> {
          List<ToolCall> calls = new ArrayList<>(m.toolCalls());
          String lead = m.role() == Role.ASSISTANT ? m.content() : "";  // text written before the calls
          if (m.role() == Role.TOOL_CALL) calls.add(parseCall(m, i));
          int j = i;
          while (j + 1 < end && msgs.get(j + 1).role() == Role.TOOL_CALL) {
            j++;
            calls.add(parseCall(msgs.get(j), j));
          }
          String text = calls.isEmpty() ? lead : agent.joinToolCalls(lead, agent.formatToolCalls(calls));
          if (last != null && last.kind == Turn.Kind.ASSISTANT) {
            // Split answers are glued as ms-swift glues them; calls after text get the agent's separator.
            last.content = lead.isEmpty() && !calls.isEmpty() ? agent.joinToolCalls(last.content, text) : last.content + text;
            if (last.loss == null) last.loss = m.loss();
          } else {
            turns.add(new Turn(Turn.Kind.ASSISTANT, i, text, m.loss()));
          }
          i = j;
        }
        case TOOL_RESPONSE -> {
          if (last == null || last.kind != Turn.Kind.ASSISTANT)
            throw new IllegalArgumentException("message " + i + " (tool_response) must follow an assistant turn or a tool_call");
          Turn t = new Turn(Turn.Kind.TOOL, i, null, null);
          t.toolResults.add(m.content());
          while (i + 1 < end && msgs.get(i + 1).role() == Role.TOOL_RESPONSE) t.toolResults.add(msgs.get(++i).content());
          turns.add(t);
        }
        default -> throw new IllegalStateException("unexpected role " + m.role());
      }
    }
    return turns;
  }

  private static ToolCall parseCall(Message m, int index) {
    try {
      return ToolCall.parse(m.content());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("message " + index + " (tool_call): " + e.getMessage(), e);
    }
  }

  private static List<Round> rounds(List<Turn> turns, TemplateMeta meta, AgentTemplate agent) {
    List<Round> rounds = new ArrayList<>();
    String query = null;
    List<PromptPart> toolQuery = null;
    for (Turn t : turns) {
      switch (t.kind) {
        case USER -> query = t.content;
        case ASSISTANT -> {
          rounds.add(new Round(query, toolQuery, t.content, t.loss));
          query = null;
          toolQuery = null;
        }
        case TOOL -> {
          // The results may extend the assistant turn that called the tools (ReAct appends "Observation:").
          Round called = rounds.remove(rounds.size() - 1);
          AgentTemplate.ToolTurn tt = agent.formatToolResponses(called.response(), t.toolResults, meta);
          rounds.add(called.withResponse(tt.assistantContent()));
          toolQuery = tt.query();
        }
      }
    }
    if (query != null || toolQuery != null) rounds.add(new Round(query, toolQuery, null, null));
    return rounds;
  }

  private static String system(String rowSystem, Conversation conv, TemplateMeta meta, AgentTemplate agent, TemplateOptions options) {
    String system = rowSystem != null ? rowSystem : options.system() != null ? options.system() : meta.defaultSystem();
    if (system != null && !system.isEmpty() && !meta.supportsSystem()) {
      throw new IllegalArgumentException("template '" + meta.name() + "' has no system prompt, but "
          + (rowSystem != null ? "the conversation starts with a system message" : "a system text was given"));
    }
    if (!conv.tools().isEmpty()) {
      system = agent.formatTools(conv.tools(), system);
      if (system != null && !system.isEmpty() && !meta.supportsSystem())
        throw new IllegalArgumentException("template '" + meta.name() + "' has no system prompt to describe the tools in "
            + "(agent template " + agent.name() + " puts them there)");
    }
    return system;
  }
}
