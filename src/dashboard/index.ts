export { Dashboard, type DashboardOptions } from "./server.js";
export { allowingRule } from "./feeds.js";
