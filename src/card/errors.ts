import { FileError, type FileProblem } from "../configfile/index.js";

/** One problem in one card file. */
export type CardProblem = FileProblem;

export class CardError extends FileError {
  constructor(code: "card_invalid" | "card_unreadable" | "card_syntax" | "card_format", problems: CardProblem[]) {
    super(code, problems);
  }
}
