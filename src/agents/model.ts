import type { Card } from "../card/index.js";
import { PaddockError } from "../errors/index.js";
import type { LaunchOptions } from "./types.js";

/** The task's model, else the card's, else the gateway's first; one the gateway does not serve is refused here rather than by a 404 inside the agent. */
export function chooseModel(card: Card, options: LaunchOptions): string | undefined {
  const model = options.model ?? card.model ?? options.models[0]?.model;
  if (model && options.models.length > 0 && !options.models.some((m) => m.model === model)) {
    throw new PaddockError("model_unknown", `the gateway serves no model '${model}' (it serves ${options.models.map((m) => m.model).join(", ")})`, options.model ? "--model" : "model", "name one of those, or add it to the gateway's model_list");
  }
  return model;
}
