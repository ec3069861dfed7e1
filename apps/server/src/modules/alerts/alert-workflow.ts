import type { Alert, AlertResolution, AlertStatus } from '@yamori/protocol';

export interface AlertChangeRequest {
  status?: AlertStatus | undefined;
  resolution?: AlertResolution | undefined;
  assignee?: string | null | undefined;
  note?: string | undefined;
}

export interface AlertChange {
  status?: AlertStatus;
  resolution?: AlertResolution | null;
  assignee?: string | null;
  notes?: string;
}

const ORDER: Record<AlertStatus, number> = { new: 0, acknowledged: 1, resolved: 2 };

/**
 * The status workflow new → acknowledged → resolved (with a resolution). Reopening a resolved
 * alert (back to acknowledged) is allowed and clears the resolution; notes are appended, never replaced.
 */
export function nextAlertState(
  current: Pick<Alert, 'status' | 'resolution' | 'notes'>,
  req: AlertChangeRequest,
  by: { actor: string; at: string },
): AlertChange | { error: string } {
  const out: AlertChange = {};
  const status = req.status ?? current.status;
  if (req.status && req.status !== current.status) {
    if (req.status === 'new') return { error: 'an alert cannot go back to new; acknowledge or resolve it' };
    if (ORDER[req.status] < ORDER[current.status] && current.status !== 'resolved')
      return { error: `cannot move an alert from ${current.status} to ${req.status}` };
    out.status = req.status;
  }
  if (status === 'resolved') {
    const resolution = req.resolution ?? current.resolution;
    if (!resolution) return { error: 'resolving needs a resolution: true_positive, false_positive or benign' };
    out.resolution = resolution;
  } else {
    if (req.resolution) return { error: 'a resolution can only be set when resolving (status "resolved")' };
    if (current.resolution) out.resolution = null;
  }
  if (req.assignee !== undefined) out.assignee = req.assignee;
  if (req.note) out.notes = `${current.notes}${current.notes ? '\n' : ''}[${by.at} ${by.actor}] ${req.note}`;
  return out;
}
