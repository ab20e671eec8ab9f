// task: extractive_qa — answers as spans of a context (SQuAD 1.1 / 2.0), long contexts read in
// overlapping windows.
import { qaTask } from "../../qa/pipeline.js";

export default qaTask;
