export { runCaptain, type CaptainEvent, type CaptainReport, type SubtaskResult } from "./captain.js";
export { planTask, PlanSchema, type Plan } from "./plan.js";
