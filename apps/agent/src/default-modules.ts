import { createBehaviorModule } from './behavior/module.ts';
import { createExploitModule } from './exploit/module.ts';
import { createRansomwareModule } from './ransomware/module.ts';
import type { AgentModule } from './modules.ts';

/**
 * The protection modules `yamori agent run` starts. Each module owns its own folder; this list is
 * the one place that names them.
 */
export function createDefaultModules(): AgentModule[] {
  return [createBehaviorModule(), createRansomwareModule(), createExploitModule()];
}
