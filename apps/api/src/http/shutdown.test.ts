import { describe, expect, it } from "vitest";
import { ShutdownHooks } from "./shutdown";

describe("ShutdownHooks", () => {
  it("runs registered hooks on trigger, skips removed ones, and runs late ones at once", () => {
    const hooks = new ShutdownHooks();
    const ran: string[] = [];
    const removed = () => ran.push("removed");
    hooks.add(() => ran.push("a"));
    hooks.add(removed);
    hooks.delete(removed);
    expect(ran).toEqual([]);
    hooks.trigger();
    expect(ran).toEqual(["a"]);
    hooks.add(() => ran.push("late"));
    expect(ran).toEqual(["a", "late"]);
  });
});
