package winsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// Install registers the service with the manager: started automatically at boot, restarted
// after 5 s, 30 s and 60 s when it fails (failure counts reset after a day). It fails, changing
// nothing, when a service of that name exists.
func Install(ctx context.Context, c Config) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(c.Name); err == nil {
		s.Close()
		return fmt.Errorf("service %s already exists: remove it first with osr mobility service uninstall", c.Name)
	}
	s, err := m.CreateService(c.Name, c.Exe, mgr.Config{
		DisplayName: c.DisplayName,
		Description: c.Description,
		StartType:   mgr.StartAutomatic,
	}, c.Args...)
	if err != nil {
		return fmt.Errorf("create service %s: %w", c.Name, err)
	}
	defer s.Close()
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
	}
	if err := s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds())); err != nil {
		s.Delete()
		return fmt.Errorf("service %s: set recovery actions: %w", c.Name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		s.Delete()
		return fmt.Errorf("service %s: set recovery actions: %w", c.Name, err)
	}
	if c.Start {
		if err := s.Start(); err != nil {
			return fmt.Errorf("service %s registered, but it did not start: %w", c.Name, err)
		}
	}
	return nil
}

// Uninstall stops the service (waiting up to StopTimeout) and deletes it from the manager.
func Uninstall(ctx context.Context, name string) error {
	if name == "" {
		name = DefaultName
	}
	if err := CheckName(name); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as an administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return fmt.Errorf("service %s is not installed", name)
	}
	if err != nil {
		return fmt.Errorf("open service %s: %w", name, err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query service %s: %w", name, err)
	}
	if st.State != svc.Stopped {
		if st.State != svc.StopPending {
			if _, err := s.Control(svc.Stop); err != nil {
				return fmt.Errorf("stop service %s: %w", name, err)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, StopTimeout)
		defer cancel()
		for st.State != svc.Stopped {
			select {
			case <-ctx.Done():
				return fmt.Errorf("service %s did not stop within %s: nothing deleted", name, StopTimeout)
			case <-time.After(300 * time.Millisecond):
			}
			if st, err = s.Query(); err != nil {
				return fmt.Errorf("query service %s: %w", name, err)
			}
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	return nil
}
