// Checks Adaptive Cards with the Adaptive Cards JavaScript library (npm "adaptivecards", the
// renderer Teams' web client and the Agents Playground use), for schema version 1.5.
// Reads a JSON array of cards on stdin; writes a JSON array with, for each card, the problems
// the library reported while parsing it and validating its properties (empty: a valid card).
"use strict";
const AC = require("adaptivecards/dist/adaptivecards.js");

const input = require("fs").readFileSync(0, "utf8");
const problems = JSON.parse(input).map((json) => {
  const found = [];
  if (json.version !== "1.5") {
    found.push(`version ${json.version}, not 1.5`);
  }
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(json, context);
  for (let i = 0; i < context.eventCount; i++) {
    const event = context.getEventAt(i);
    found.push(`${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  for (const event of card.validateProperties().validationEvents) {
    found.push(`${AC.ValidationEvent[event.event]}: ${event.message}`);
  }
  return found;
});
process.stdout.write(JSON.stringify(problems));
