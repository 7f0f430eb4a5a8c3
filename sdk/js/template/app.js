// {{name}}: a Chitin tool plugin in JavaScript.
import { exportTools, InvalidArguments, log } from "chitin-sdk";

// The export named after the WIT interface (`tool`): lists and dispatches these tools.
export const tool = exportTools({
  hello: {
    description: "Greets someone by name.",
    parameters: {
      type: "object",
      properties: {
        name: { type: "string", description: "Who to greet." },
        excited: { type: "boolean", description: "End with an exclamation mark." },
      },
      required: ["name"],
      additionalProperties: false,
    },
    run(args, ctx) {
      const name = args.name.trim();
      if (!name) throw new InvalidArguments("`name` is blank; give the name of who to greet");
      log.debug(`${ctx.callId}: greeting ${name}`);
      return `Hello, ${name}${args.excited ? "!" : "."}`;
    },
  },
});
