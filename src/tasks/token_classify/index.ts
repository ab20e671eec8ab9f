// task: token_classify — entities or slots: a tag per word, and an intent per sentence when the
// data has one (joint intent + slot filling on one encoder).
import { tokenTask } from "../../token/pipeline.js";

export default tokenTask;
